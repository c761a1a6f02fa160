"""The filter's time loop, forward and backward, as two compiled loops (numba) on the CPU.

A training step of the EEG model of Pals et al. 2024 (rank 3, 512 units, 10 windows × 10
particles) does about 0.6 MFLOP per time step forward, yet issues some forty tensor operations
per step forward and as many backward, each costing microseconds of dispatch and a pass over a
(particles × units) array: the step is bound by the number of operations, not by arithmetic.
Here one call runs all steps t ≥ 1 of a window for all trials: per particle, resampling, the
transition z ↦ a z + Nᵀφ(M z; h), the optimal proposal's draw and weight (with the per-step
terms of :func:`neurodyn.models.smc_lowrank.bound.proposal_terms`), and the normalisation; the
backward pass is the adjoint of that loop, written out by hand, run in reverse.

What is differentiated is what autograd differentiates in the eager path (the biased VSMC
gradient): ancestor indices are not, and after each resampling the weights restart uniform, so
no gradient flows through the normalised weights from one step to the next. The tests compare
the bound and every gradient with the eager path's autograd.

Supported: the optimal proposal, resampling at every step, no inputs, every nonlinearity; other
settings run the eager path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from neurodyn.compiled import njit

NONLINEARITY_CODES = {"relu": 0, "clipped": 1, "tanh": 2}
_KERNELS: dict[str, Any] = {}
unit_pass: Any = None  # the compiled _unit_pass, bound by _compile


def _unit_pass(zr, Mt, h, code, x, phi, zero):
    # x = M z, φ(x; h) for one particle; zr (R,), Mt (R, U)
    R, U = Mt.shape
    for u in range(U):
        x[u] = zero
    for r in range(R):
        zr_r = zr[r]
        for u in range(U):
            x[u] += Mt[r, u] * zr_r
    if code == 0:
        for u in range(U):
            phi[u] = max(x[u] + h[u], zero)
    elif code == 1:
        for u in range(U):
            phi[u] = max(x[u] + h[u], zero) - max(x[u], zero)
    else:
        for u in range(U):
            phi[u] = math.tanh(x[u] + h[u])


def _forward(z_init, lwn_init, offsets, gain, data_mean, noise, linear, const, Mt, Nt, h, a_arr, code):
    # scalars are read from arrays so that every sum runs in the arrays' own dtype
    a, zero = a_arr[0], a_arr[1]
    B, T, K, R = noise.shape
    U = Mt.shape[1]
    dt = noise.dtype
    lml = np.empty((B, T - 1), dt)
    zr_all = np.empty((B, T, K, R), dt)
    f_all = np.empty((B, T, K, R), dt)
    w_all = np.empty((B, T, K), dt)
    anc_all = np.empty((B, T, K), np.int64)
    x = np.empty(U, dt)
    phi = np.empty(U, dt)
    cdf = np.empty(K, dt)
    logits = np.empty(K, dt)
    log_k = math.log(K)
    for b in range(B):
        z = z_init[b].copy()
        lwn = lwn_init[b].copy()
        for t in range(1, T):
            # systematic resampling of the previous step's particles
            top = lwn.max()
            total = zero
            for k in range(K):
                cdf[k] = math.exp(lwn[k] - top)
                total += cdf[k]
            run = zero
            for k in range(K):
                run += cdf[k] / total
                cdf[k] = run
            j = 0
            for k in range(K):
                position = (k + offsets[b, t - 1]) / K
                while j < K - 1 and cdf[j] < position:
                    j += 1
                anc_all[b, t, k] = j
            for k in range(K):
                zr = zr_all[b, t, k]
                zr[:] = z[anc_all[b, t, k]]
                unit_pass(zr, Mt, h, code, x, phi, zero)
                f = f_all[b, t, k]
                for r in range(R):
                    acc = zero
                    for u in range(U):
                        acc += Nt[r, u] * phi[u]
                    f[r] = a * zr[r] + acc
            # proposal draw and weight p(y_t | z_{t−1}), after the loop so z can be reused
            for k in range(K):
                f = f_all[b, t, k]
                quad = zero
                for r in range(R):
                    mean = data_mean[b, t, r] + noise[b, t, k, r]
                    fa = zero
                    for i in range(R):
                        mean += f[i] * gain[b, t, i, r]
                        fa += f[i] * gain[b, t, i, R + r]
                    z[k, r] = mean
                    quad += (fa - 2.0 * linear[b, t, r]) * f[r]
                logits[k] = const[b, t] - 0.5 * quad - log_k
            top = logits.max()
            total = zero
            for k in range(K):
                total += math.exp(logits[k] - top)
            step = top + math.log(total)
            lml[b, t - 1] = step
            for k in range(K):
                lwn[k] = logits[k] - step
                w_all[b, t, k] = math.exp(lwn[k])
    return lml, zr_all, f_all, w_all, anc_all


def _backward(g_lml, zr_all, f_all, w_all, anc_all, gain, linear, Mt, Nt, h, a_arr, code):
    a, zero, one = a_arr[0], a_arr[1], a_arr[2]
    half = one / (one + one)
    B, T, K, R = zr_all.shape
    U = Mt.shape[1]
    dt = zr_all.dtype
    g_z_init = np.zeros((B, K, R), dt)
    g_gain = np.zeros(gain.shape, dt)
    g_mean = np.zeros((B, T, R), dt)
    g_noise = np.zeros((B, T, K, R), dt)
    g_linear = np.zeros((B, T, R), dt)
    g_const = np.zeros((B, T), dt)
    gMt = np.zeros(Mt.shape, dt)
    gNt = np.zeros(Nt.shape, dt)
    gh = np.zeros(U, dt)
    ga = zero
    x = np.empty(U, dt)
    phi = np.empty(U, dt)
    gx = np.empty(U, dt)
    gf = np.empty(R, dt)
    for b in range(B):
        gz = np.zeros((K, R), dt)
        for t in range(T - 1, 0, -1):
            gl = g_lml[b, t - 1]
            g_const[b, t] = gl * w_all[b, t].sum()
            gz_prev = np.zeros((K, R), dt)
            for k in range(K):
                gw = gl * w_all[b, t, k]
                f = f_all[b, t, k]
                zr = zr_all[b, t, k]
                # z = f G + m + noise;  log w = const − ½ Σ_r ((f A)_r − 2 b_r) f_r
                for r in range(R):
                    g_noise[b, t, k, r] = gz[k, r]
                    g_mean[b, t, r] += gz[k, r]
                    g_linear[b, t, r] += gw * f[r]
                for i in range(R):
                    acc = zero
                    a_row = zero
                    a_col = zero
                    for r in range(R):
                        g_gain[b, t, i, r] += f[i] * gz[k, r]
                        g_gain[b, t, i, R + r] -= half * gw * f[i] * f[r]
                        acc += gain[b, t, i, r] * gz[k, r]
                        a_row += gain[b, t, i, R + r] * f[r]
                        a_col += f[r] * gain[b, t, r, R + i]
                    gf[i] = acc - half * gw * (a_row + a_col - (linear[b, t, i] + linear[b, t, i]))
                # f = a z + Nᵀ φ(M z; h)
                unit_pass(zr, Mt, h, code, x, phi, zero)
                for u in range(U):
                    gx[u] = zero
                for r in range(R):
                    gf_r = gf[r]
                    for u in range(U):
                        gx[u] += Nt[r, u] * gf_r
                        gNt[r, u] += phi[u] * gf_r
                # gx holds ∂/∂φ; turn it into ∂/∂x and collect ∂/∂h
                if code == 0:
                    for u in range(U):
                        if x[u] + h[u] <= zero:
                            gx[u] = zero
                        gh[u] += gx[u]
                elif code == 1:
                    for u in range(U):
                        g_phi = gx[u]
                        on = x[u] + h[u] > zero
                        positive = x[u] > zero
                        if on:
                            gh[u] += g_phi
                        # ∂φ/∂x = [x + h > 0] − [x > 0]
                        gx[u] = g_phi if on and not positive else (-g_phi if positive and not on else zero)
                else:
                    for u in range(U):
                        gx[u] *= one - phi[u] * phi[u]
                        gh[u] += gx[u]
                parent = anc_all[b, t, k]
                for r in range(R):
                    acc = zero
                    zr_r = zr[r]
                    for u in range(U):
                        gMt[r, u] += gx[u] * zr_r
                        acc += Mt[r, u] * gx[u]
                    gz_prev[parent, r] += a * gf[r] + acc
                    ga += zr_r * gf[r]
            gz = gz_prev
        g_z_init[b] = gz
    return g_z_init, g_gain, g_mean, g_noise, g_linear, g_const, gMt, gNt, gh, ga


def _compile() -> dict[str, Any]:
    """Compile the two loops on first use (numba compiles them for each dtype; cached on disk).

    The loops are plain module-level functions so that numba's on-disk cache finds them again in
    the next process; ``unit_pass`` is bound to its compiled form before the loops that call it.
    """
    if _KERNELS:
        return _KERNELS
    # reassociation lets the per-unit sums vectorise; NaN and infinity keep their IEEE meaning
    options = {"fastmath": {"reassoc", "contract", "nsz", "arcp"}}
    globals()["unit_pass"] = njit(_unit_pass, **options)
    _KERNELS.update(forward=njit(_forward, **options), backward=njit(_backward, **options))
    return _KERNELS


def _np(x: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy())


class FusedWindow(torch.autograd.Function):
    """log p̂(y_t | y_{<t}) for t = 1 … T−1 of a window, (B, T − 1), from the particles after step 0.

    Inputs: z_init (B, K, R) and lwn_init (B, K) after step 0; offsets (B, T − 1) resampling draws;
    gain (B, T, R, 2R), data_mean (B, T, R), noise (B, T, K, R), linear (B, T, R), const (B, T) of
    :class:`~neurodyn.models.smc_lowrank.bound.ProposalTerms` (optimal proposal); M, N (U, R);
    h (U,); a (); nonlinearity code (:data:`NONLINEARITY_CODES`).
    """

    @staticmethod
    def forward(ctx, z_init, lwn_init, offsets, gain, data_mean, noise, linear, const, M, N, h, a, code):
        kernels = _compile()
        dt = noise.dtype
        Mt, Nt = _np(M.T.to(dt)), _np(N.T.to(dt))
        arrays = [_np(v.to(dt)) for v in (z_init, lwn_init, offsets, gain, data_mean, noise, linear, const)]
        h_np, a_val = _np(h.to(dt)), np.array([float(a), 0.0, 1.0], dtype=arrays[0].dtype)
        lml, zr, f, w, anc = kernels["forward"](*arrays, Mt, Nt, h_np, a_val, int(code))
        ctx.saved = (zr, f, w, anc, arrays[3], arrays[6], Mt, Nt, h_np, a_val, int(code))
        ctx.meta = (M.dtype, a.dtype)
        return torch.from_numpy(lml)

    @staticmethod
    def backward(ctx, g_lml):
        zr, f, w, anc, gain, linear, Mt, Nt, h_np, a_val, code = ctx.saved
        out = _compile()["backward"](
            np.ascontiguousarray(g_lml.detach().cpu().numpy(), dtype=zr.dtype),
            zr,
            f,
            w,
            anc,
            gain,
            linear,
            Mt,
            Nt,
            h_np,
            a_val,
            code,
        )
        g_z, g_gain, g_mean, g_noise, g_linear, g_const, gMt, gNt, gh, ga = out
        w_dtype, a_dtype = ctx.meta
        t = torch.from_numpy
        return (
            t(g_z),
            None,
            None,
            t(g_gain),
            t(g_mean),
            t(g_noise),
            t(g_linear),
            t(g_const),
            t(gMt).T.to(w_dtype),
            t(gNt).T.to(w_dtype),
            t(gh).to(w_dtype),
            torch.tensor(float(ga), dtype=a_dtype),
            None,
        )
