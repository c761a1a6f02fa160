"""Exact Gaussian moments of ReLU units, batched in torch.

For z ~ N(μ, Σ) in R^M and φ(z) = max(0, z) the E-step of a piecewise-linear RNN fitted by EM
(Durstewitz 2017, PLOS Comput Biol 13:e1005542; Koppe et al. 2019, PLOS Comput Biol
15:e1007263; Schmidt et al. 2021, ICLR) needs E[φ(z)], E[φ(z) φ(z)ᵀ] and E[z φ(z)ᵀ], and the
same cross moments between consecutive time steps. All of them are closed-form:

* univariate (standard results for the rectified / truncated normal), with a = μ/σ::

      E[φ(z)]  = μ Φ(a) + σ ϕ(a)
      E[φ(z)²] = (μ² + σ²) Φ(a) + μ σ ϕ(a)

* E[x φ(y)] for jointly Gaussian x, y, from Stein's lemma
  E[(x − μ_x) g(y)] = Cov(x, y) E[g'(y)]::

      E[x φ(y)] = μ_x E[φ(y)] + Cov(x, y) Φ(μ_y/σ_y)

* E[φ(x) φ(y)] for a correlated pair (the first moments of a truncated bivariate normal,
  Rosenbaum 1961, J. R. Stat. Soc. B 23:405). Derived here with Stein's lemma applied to
  u·(v 1_D) for standardised (u, v) with correlation ρ and D = {u > −a₁, v > −a₂}; with
  s = √(1−ρ²), q₁ = (a₁ − ρa₂)/s, q₂ = (a₂ − ρa₁)/s::

      E[φ(x) φ(y)] = (μ₁μ₂ + C₁₂) Φ₂(a₁, a₂; ρ) + μ₂σ₁ ϕ(a₁) Φ(q₂) + μ₁σ₂ ϕ(a₂) Φ(q₁)
                     + σ₁σ₂ s ϕ(a₁) ϕ(q₂)

  (ϕ(a₁)ϕ(q₂) = ϕ(a₂)ϕ(q₁), so the expression is symmetric.)

The bivariate normal CDF Φ₂ is computed by Gauss–Legendre quadrature of one-dimensional
integral representations (Drezner & Wesolowsky 1990, J. Stat. Comput. Simul. 35:101; Genz 2004,
Stat. Comput. 14:251), see :func:`bivariate_normal_cdf`.

Degenerate variances (σ = 0) are treated as point masses (φ(z) = φ(μ)); |ρ| = 1 is handled by
the exact limits. Everything works elementwise on broadcast tensors on any device; internally
all arithmetic is float64 and results are returned in the floating dtype of the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "ReluMoments",
    "bivariate_normal_cdf",
    "cross_phi_phi",
    "cross_z_phi",
    "independent_relu_moments",
    "relu_mean",
    "relu_moments",
    "relu_pair_moment",
    "relu_second_moment",
]

_F64 = torch.float64
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)
_TWO_PI = 2.0 * math.pi

# Beyond |x| = 40 the normal tails are below the smallest float64 subnormal (Φ(−38.5) < 5e−324),
# so clamping standardised limits there changes no float64 result; it keeps every polynomial
# and exponent in the quadrature finite.
_CLAMP_CDF = 40.0
# Standardised means are clamped a bit wider than the CDF limits so that the correction terms
# ϕ(a₂)Φ(q₁) keep full accuracy (min over ρ of (50 − ρ·38.5)/√(1−ρ²) ≈ 32, far in the tail).
_CLAMP_STD = 50.0
# Genz (2004) switches from the arcsine-substitution form to the transformed form here.
_RHO_SWITCH = 0.925
# Default number of pairs per chunk in the pairwise moment functions. Chunking bounds the
# quadrature's temporaries (a few dozen tensors of the chunk's size) regardless of batch size;
# only the outputs are O(B·T·M²). On CPU ~2^17 keeps temporaries cache/allocator friendly
# (measurably faster than 2^21 in a CPU benchmark); on GPU large chunks amortise kernel launches.
DEFAULT_CHUNK_CPU = 1 << 17
DEFAULT_CHUNK_CUDA = 1 << 22


def _chunk_size(chunk: int | None, device: torch.device) -> int:
    if chunk is not None:
        return max(int(chunk), 1)
    return DEFAULT_CHUNK_CPU if device.type == "cpu" else DEFAULT_CHUNK_CUDA


def _leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1] (computed, not tabulated)."""
    x, w = np.polynomial.legendre.leggauss(n)
    return x.astype(np.float64), w.astype(np.float64)


# Genz (2004): 6 points for |ρ| < 0.3, 12 for |ρ| < 0.75, 20 otherwise (and for |ρ| ≥ 0.925).
_GL = {n: _leggauss(n) for n in (6, 12, 20)}
_LOW_RULES = ((0.0, 0.3, 6), (0.3, 0.75, 12), (0.75, _RHO_SWITCH, 20))


# --------------------------------------------------------------------------------------------
# univariate helpers
# --------------------------------------------------------------------------------------------


def _norm_cdf(x: torch.Tensor) -> torch.Tensor:
    """Φ(x) via erfc (accurate in the lower tail, unlike 0.5·(1 + erf))."""
    return 0.5 * torch.special.erfc(-x / _SQRT2)


def _norm_pdf(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-0.5 * x * x) / _SQRT2PI


def _out_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """Floating dtype of the result: the promoted input dtype, float64 for integer inputs."""
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = torch.promote_types(dt, t.dtype)
    return dt if dt.is_floating_point else _F64


def _std_and_a(mu: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """σ (with σ = 1 where var ≤ 0, so nothing divides by zero), a = clamp(μ/σ), point-mass mask.

    Slightly negative variances (round-off in a covariance) count as 0: point masses.
    """
    point = var <= 0
    std = torch.sqrt(torch.where(point, torch.ones_like(var), var))
    a = (mu / std).clamp(-_CLAMP_STD, _CLAMP_STD)
    return std, a, point


def _relu(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=0)


def _step(mu: torch.Tensor) -> torch.Tensor:
    """d φ/dz at a point mass (the limit σ → 0 of Φ(μ/σ); ½ at μ = 0)."""
    return (mu > 0).to(mu.dtype) + 0.5 * (mu == 0).to(mu.dtype)


def _phi_slope(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """E[φ'(z)] = P(z > 0) = Φ(μ/σ), with the step function for σ = 0. Float64 in/out."""
    _, a, point = _std_and_a(mu, var)
    return torch.where(point, _step(mu), _norm_cdf(a))


def _relu_mean64(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    std, a, point = _std_and_a(mu, var)
    return torch.where(point, _relu(mu), mu * _norm_cdf(a) + std * _norm_pdf(a))


def _relu_second64(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    std, a, point = _std_and_a(mu, var)
    val = (mu * mu + std * std) * _norm_cdf(a) + mu * std * _norm_pdf(a)
    return torch.where(point, _relu(mu) ** 2, val)


def relu_mean(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """E[φ(z)] = μ Φ(μ/σ) + σ ϕ(μ/σ) for z ~ N(μ, σ²), elementwise (broadcast).

    mu, var: (...,) broadcastable. Returns (...,). σ = 0 gives φ(μ).
    """
    dt = _out_dtype(mu, var)
    return _relu_mean64(mu.to(_F64), var.to(_F64)).to(dt)


def relu_second_moment(mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """E[φ(z)²] = (μ² + σ²) Φ(μ/σ) + μ σ ϕ(μ/σ) for z ~ N(μ, σ²), elementwise. Returns (...,)."""
    dt = _out_dtype(mu, var)
    return _relu_second64(mu.to(_F64), var.to(_F64)).to(dt)


# --------------------------------------------------------------------------------------------
# bivariate normal CDF
# --------------------------------------------------------------------------------------------


def _bvn_low(h: torch.Tensor, k: torch.Tensor, rho: torch.Tensor, n: int) -> torch.Tensor:
    """Φ₂ for |ρ| < 0.925, 1-D tensors, n-point Gauss–Legendre.

    With ρ = sin θ, dΦ₂/dρ = ϕ₂(h, k; ρ) becomes (1/2π) exp(−(h² + k² − 2hk sin θ)/(2cos²θ)) dθ
    (Drezner & Wesolowsky 1990; Genz 2004, Eq. 3), and Φ₂(h, k; 0) = Φ(h)Φ(k), so
    Φ₂ = Φ(h)Φ(k) + (1/2π) ∫₀^{asin ρ} exp((hk sin θ − (h²+k²)/2)/cos²θ) dθ.
    θ = asin(ρ)(1 + x)/2 maps the integral to [−1, 1]. The exponent is ≤ 0, so nothing overflows.
    """
    x, w = _GL[n]
    asr = torch.asin(rho)
    hk = h * k
    hs = 0.5 * (h * h + k * k)
    acc = torch.zeros_like(h)
    # Loop over the (few) nodes, not over data: memory stays O(len(h)).
    for xi, wi in zip(x.tolist(), w.tolist(), strict=True):
        sn = torch.sin(asr * (0.5 * (1.0 + xi)))
        acc += wi * torch.exp((sn * hk - hs) / (1.0 - sn * sn))
    return _norm_cdf(h) * _norm_cdf(k) + acc * asr / (2.0 * _TWO_PI)


def _bvn_high_pos(h: torch.Tensor, k: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Φ₂(h, k; r) for 0.925 ≤ r ≤ 1, 1-D tensors (the transformed form of Genz 2004, §2.2).

    Φ₂(h, k; r) = Φ(min(h, k)) − ∫_r^1 ϕ₂(h, k; t) dt. Writing h² − 2thk + k² = (h−k)² + 2(1−t)hk
    and substituting s = √(1 − t²) (so t = √(1 − s²)):

        ∫_r^1 ϕ₂ dt = (1/2π) ∫₀^a exp(−b²/(2s²) − hk/(1+t)) / t ds,   a = √(1−r²), b = |h−k|.

    The integrand is smooth but, near r = 1, steep at s → 0 (the exp(−b²/(2s²)) factor), so the
    part g(s) = exp(−hk/(1+t))/t ≈ e^{−hk/2}(1 + c s² + c d s⁴) with c = (4−hk)/8,
    d = (12−hk)/16 (Taylor expansion in s²) is integrated in closed form and only the O(s⁶)
    remainder by 20-point Gauss–Legendre. With E = exp(−b²/(2a²)) and
    I_n = ∫₀^a s^{2n} exp(−b²/(2s²)) ds, integration by parts gives
    I₀ = aE − b√(2π) Φ(−b/a) and (2n+1) I_n = a^{2n+1} E − b² I_{n−1}, hence

        I₀ + c I₁ + cd I₂ = aE [1 − c(b²−a²)(1 − d b²/5)/3 + cd a⁴/5]
                            − b√(2π) Φ(−b/a) [1 − c b²(1 − d b²/5)/3].

    The factor e^{−hk/2} is merged into the exponents (log Φ for the tail term), which are
    ≤ 0 because b²/s² + hk ≥ 0; so nothing overflows for any clamped h, k.
    """
    hk = h * k
    b2 = (h - k) ** 2
    b = torch.sqrt(b2)
    a2 = (1.0 - r) * (1.0 + r)
    inner = a2 > 0
    a2s = torch.where(inner, a2, torch.ones_like(a2))  # safe where r = 1 (integral is 0 there)
    a = torch.sqrt(a2s)
    c = (4.0 - hk) / 8.0
    d = (12.0 - hk) / 16.0

    closed = (
        a
        * torch.exp(-0.5 * (b2 / a2s + hk))
        * (1.0 - c * (b2 - a2s) * (1.0 - d * b2 / 5.0) / 3.0 + c * d * a2s * a2s / 5.0)
    )
    tail = torch.exp(-0.5 * hk + torch.special.log_ndtr(-b / a))
    closed = closed - _SQRT2PI * b * tail * (1.0 - c * b2 * (1.0 - d * b2 / 5.0) / 3.0)

    x, w = _GL[20]
    rem = torch.zeros_like(h)
    half_hk, half_b2, cd = 0.5 * hk, 0.5 * b2, c * d
    for xi, wi in zip(x.tolist(), w.tolist(), strict=True):
        s2 = a2s * (0.25 * (1.0 + xi) ** 2)  # s = a(1 + x)/2
        t = torch.sqrt(1.0 - s2)
        t1 = 1.0 + t
        # e^{hk/2} g(s) = exp(−hk(1−t)/(2(1+t)))/t, and (1−t)/(1+t) = s²/(1+t)² avoids 1 − t.
        g = torch.exp(-half_hk * s2 / (t1 * t1)) / t
        g -= 1.0 + s2 * (c + cd * s2)
        rem += wi * torch.exp(-(half_b2 / s2 + half_hk)) * g
    half_a = 0.5 * a
    integral = closed + half_a * rem
    integral = torch.where(inner, integral, torch.zeros_like(integral))
    return _norm_cdf(torch.minimum(h, k)) - integral / _TWO_PI


def _bvn_finite(h: torch.Tensor, k: torch.Tensor, rho: torch.Tensor) -> torch.Tensor:
    """Φ₂ for finite h, k and ρ ∈ [−1, 1] (1-D tensors): dispatch by |ρ| to the rules."""
    h = h.clamp(-_CLAMP_CDF, _CLAMP_CDF)
    k = k.clamp(-_CLAMP_CDF, _CLAMP_CDF)
    out = torch.empty_like(h)
    absr = rho.abs()
    for lo, hi, n in _LOW_RULES:
        idx = torch.nonzero((absr >= lo) & (absr < hi)).squeeze(-1)
        if idx.numel():
            out[idx] = _bvn_low(h[idx], k[idx], rho[idx], n)
    idx = torch.nonzero(absr >= _RHO_SWITCH).squeeze(-1)
    if idx.numel():
        hh, kk, rr = h[idx], k[idx], rho[idx]
        neg = rr < 0
        # ρ < 0: P(X<h, Y<k) = Φ(h) − P(X<h, −Y<−k), and corr(X, −Y) = −ρ > 0.
        pos = _bvn_high_pos(hh, torch.where(neg, -kk, kk), rr.abs())
        out[idx] = torch.where(neg, (_norm_cdf(hh) - pos).clamp(min=0.0), pos)
    return out.clamp(0.0, 1.0)


def bivariate_normal_cdf(h: torch.Tensor | float, k: torch.Tensor | float, rho: torch.Tensor | float) -> torch.Tensor:
    """Φ₂(h, k; ρ) = P(X < h, Y < k) for standard normals X, Y with correlation ρ.

    h, k, rho: broadcastable tensors or Python numbers; rho ∈ [−1, 1] (NaN outside, and for NaN
    inputs). Returns the broadcast shape, in float64 (or a wider input dtype), on the inputs'
    device. ±inf limits are exact (Φ₂(∞, k) = Φ(k), Φ₂(−∞, k) = 0), and so are ρ = ±1
    (Φ(min(h, k)) and max(0, Φ(h) − Φ(−k))).

    Method (Genz 2004, Stat. Comput. 14:251, after Drezner & Wesolowsky 1990): for |ρ| < 0.925
    Gauss–Legendre quadrature of the arcsine-substituted integral of ϕ₂ over ρ with 6, 12 or 20
    nodes (|ρ| < 0.3, < 0.75, otherwise); for |ρ| ≥ 0.925 the transformed integral from ρ to 1
    with its singular-looking part integrated in closed form (see :func:`_bvn_high_pos`). Nodes
    come from ``numpy.polynomial.legendre.leggauss``. Absolute error ≲ 1e−15 in tests.
    """
    tensors = [v for v in (h, k, rho) if isinstance(v, torch.Tensor)]
    device = tensors[0].device if tensors else torch.device("cpu")
    dt = torch.promote_types(_out_dtype(*tensors), _F64) if tensors else _F64
    # Python numbers go straight to float64 (torch.as_tensor would round them to float32 first).
    h, k, rho = torch.broadcast_tensors(*(torch.as_tensor(v, dtype=_F64, device=device) for v in (h, k, rho)))
    shape = h.shape
    h, k, rho = h.reshape(-1), k.reshape(-1), rho.reshape(-1)

    finite = torch.isfinite(h) & torch.isfinite(k) & (rho.abs() <= 1.0)
    zeros = torch.zeros_like(h)
    core = _bvn_finite(torch.where(finite, h, zeros), torch.where(finite, k, zeros), torch.where(finite, rho, zeros))
    # Infinite limits: a −inf bound empties the event; a +inf bound leaves the other marginal.
    special = torch.where(
        (h == -math.inf) | (k == -math.inf), zeros, torch.where(h == math.inf, _norm_cdf(k), _norm_cdf(h))
    )
    bad = torch.isnan(h) | torch.isnan(k) | ~(rho.abs() <= 1.0)
    out = torch.where(finite, core, special)
    out = torch.where(bad, torch.full_like(out, math.nan), out)
    return out.reshape(shape).to(dt)


# --------------------------------------------------------------------------------------------
# pairwise moment E[φ(x) φ(y)]
# --------------------------------------------------------------------------------------------


def _pair64(
    mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor, var2: torch.Tensor, c12: torch.Tensor
) -> torch.Tensor:
    """E[φ(x) φ(y)] for (x, y) bivariate normal, float64, same-shaped 1-D (or any) tensors.

    Formula in the module docstring. Point masses: σ₁ = 0 gives φ(μ₁) E[φ(y)] (and vice versa).
    ρ is clamped to [−1, 1] (round-off in a nearly singular covariance). At |ρ| = 1, s = 0 and
    q = (a₂ − ρa₁)/s is taken as ±inf, or 0 when a₂ = ρa₁; these are the exact limits.
    """
    s1, a1, p1 = _std_and_a(mu1, var1)
    s2, a2, p2 = _std_and_a(mu2, var2)
    denom = s1 * s2
    rho = torch.where(denom > 0, c12 / denom, torch.zeros_like(denom)).clamp(-1.0, 1.0)
    s = torch.sqrt((1.0 - rho) * (1.0 + rho))

    def q(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(y − ρx)/s. Near |ρ| = 1, s ~ √(1−|ρ|) is tiny and y − ρx would lose ~eps·|x|/s to
        rounding, so the algebraically equal (y ∓ x) + (1 ∓ ρ)x is used (1 ∓ ρ is exact there)."""
        num = torch.where(rho >= 0, (y - x) + (1.0 - rho) * x, (y + x) - (1.0 + rho) * x)
        safe = torch.where(s > 0, s, torch.ones_like(s))
        lim = torch.where(num == 0, torch.zeros_like(num), torch.sign(num) * math.inf)
        return torch.where(s > 0, num / safe, lim)

    q1 = q(a2, a1)
    q2 = q(a1, a2)
    pdf1 = _norm_pdf(a1)
    cdf2 = bivariate_normal_cdf(a1, a2, rho)
    # ρ·σ₁σ₂ rather than c12, so the clamp of ρ stays consistent across terms (equal for σ > 0).
    val = (
        (mu1 * mu2 + rho * denom) * cdf2
        + mu2 * s1 * pdf1 * _norm_cdf(q2)
        + mu1 * s2 * _norm_pdf(a2) * _norm_cdf(q1)
        + denom * s * pdf1 * _norm_pdf(q2)
    )
    # Point masses: the pair factorises (val, computed with σ = 1 stand-ins, is discarded there).
    e1 = torch.where(p1, _relu(mu1), mu1 * _norm_cdf(a1) + s1 * pdf1)
    e2 = torch.where(p2, _relu(mu2), mu2 * _norm_cdf(a2) + s2 * _norm_pdf(a2))
    return torch.where(p1 | p2, e1 * e2, val)


def _chunked(fn: Callable[..., torch.Tensor], args: tuple[torch.Tensor, ...], chunk: int) -> torch.Tensor:
    """Apply an elementwise ``fn`` to broadcast, flattened ``args`` in slices of ``chunk``.

    The quadrature creates tens of temporaries of the input size; slicing bounds their memory
    while the output (the unavoidable O(B·T·M²)) is written in place. Loops over chunks only.
    """
    args = torch.broadcast_tensors(*args)
    shape = args[0].shape
    flat = [a.reshape(-1) for a in args]
    n = flat[0].numel()
    out = torch.empty(n, dtype=_F64, device=flat[0].device)
    for start in range(0, n, chunk):
        sl = slice(start, start + chunk)
        out[sl] = fn(*(f[sl] for f in flat))
    return out.reshape(shape)


def relu_pair_moment(
    mu1: torch.Tensor,
    var1: torch.Tensor,
    mu2: torch.Tensor,
    var2: torch.Tensor,
    cov12: torch.Tensor,
    *,
    chunk: int | None = None,
) -> torch.Tensor:
    """E[φ(x) φ(y)] for scalar jointly Gaussian pairs, elementwise over broadcast (...,) inputs.

    mu1, var1: mean and variance of x; mu2, var2: of y; cov12: Cov(x, y). Returns (...,).
    Exact (Rosenbaum 1961 truncated-bivariate-normal moments; see module docstring).
    """
    dt = _out_dtype(mu1, var1, mu2, var2, cov12)
    args = tuple(t.to(_F64) for t in (mu1, var1, mu2, var2, cov12))
    return _chunked(_pair64, args, _chunk_size(chunk, mu1.device)).to(dt)


# --------------------------------------------------------------------------------------------
# moments of a Gaussian vector
# --------------------------------------------------------------------------------------------


class ReluMoments(NamedTuple):
    """Moments of φ(z) = max(0, z) for z ~ N(μ, Σ) in R^M.

    e_phi (..., M): E[φ(z)]; e_phi_phi (..., M, M): E[φ(z) φ(z)ᵀ] (symmetric);
    e_z_phi (..., M, M): E[z φ(z)ᵀ], i.e. e_z_phi[..., i, j] = E[z_i φ(z_j)].
    """

    e_phi: torch.Tensor
    e_phi_phi: torch.Tensor
    e_z_phi: torch.Tensor


def _z_phi64(
    mean_x: torch.Tensor, mean_y: torch.Tensor, cov_xy: torch.Tensor, var_y: torch.Tensor, e_phi_y: torch.Tensor
) -> torch.Tensor:
    """E[x φ(y)ᵀ] = μ_x E[φ(y)]ᵀ + Cov(x, y) diag(Φ(μ_y/σ_y)) (Stein's lemma). (..., P, M)."""
    slope = _phi_slope(mean_y, var_y)
    return mean_x[..., :, None] * e_phi_y[..., None, :] + cov_xy * slope[..., None, :]


def _batch_rows(t: torch.Tensor, event_dims: int, batch: torch.Size) -> torch.Tensor:
    """Broadcast ``t`` to ``batch`` + its event shape and flatten the batch to one axis."""
    event = t.shape[t.dim() - event_dims :]
    return t.expand(*batch, *event).reshape(-1, *event)


def relu_moments(mean: torch.Tensor, cov: torch.Tensor, *, chunk: int | None = None) -> ReluMoments:
    """Exact E[φ(z)], E[φ(z)φ(z)ᵀ], E[z φ(z)ᵀ] for z ~ N(mean, cov), φ = ReLU.

    mean (..., M), cov (..., M, M) symmetric PSD (leading dims broadcast). Off-diagonal
    E[φ_i φ_j] use the bivariate formula on the M(M−1)/2 upper pairs, processed in chunks of
    about ``chunk`` pairs so temporaries stay bounded; the result is mirrored, so e_phi_phi is
    exactly symmetric. Returns :class:`ReluMoments` in the inputs' floating dtype.
    """
    dt = _out_dtype(mean, cov)
    mean64, cov64 = mean.to(_F64), cov.to(_F64)
    M = mean64.shape[-1]
    batch = torch.broadcast_shapes(mean64.shape[:-1], cov64.shape[:-2])
    mu = _batch_rows(mean64, 1, batch)  # (N, M)
    cv = _batch_rows(cov64, 2, batch)  # (N, M, M)
    var = torch.diagonal(cv, dim1=-2, dim2=-1)  # (N, M)

    e_phi = _relu_mean64(mu, var)
    e_pp = torch.diag_embed(_relu_second64(mu, var))
    if M > 1:
        iu, ju = torch.triu_indices(M, M, offset=1, device=mu.device)
        rows = max(1, _chunk_size(chunk, mu.device) // iu.numel())
        # Chunk over batch rows: gathers of the pair inputs are also O(chunk), not O(N·M²).
        for start in range(0, mu.shape[0], rows):
            sl = slice(start, start + rows)
            m, v, c = mu[sl], var[sl], cv[sl]
            vals = _pair64(m[:, iu], v[:, iu], m[:, ju], v[:, ju], c[:, iu, ju])
            e_pp[sl, iu, ju] = vals
            e_pp[sl, ju, iu] = vals
    e_zp = _z_phi64(mu, mu, cv, var, e_phi)
    return ReluMoments(
        e_phi.reshape(*batch, M).to(dt), e_pp.reshape(*batch, M, M).to(dt), e_zp.reshape(*batch, M, M).to(dt)
    )


def independent_relu_moments(mean: torch.Tensor, cov: torch.Tensor) -> ReluMoments:
    """The univariate (independence) approximation, for comparison only.

    Same shapes as :func:`relu_moments`. E[φ_i] and E[φ_i²] are exact, but off-diagonal
    E[φ_i φ_j] ≈ E[φ_i] E[φ_j] ignores the correlation of the units. E[z φᵀ] is exact (Stein's
    lemma needs only univariate quantities). The error grows with posterior variance and
    correlation.
    """
    dt = _out_dtype(mean, cov)
    batch = torch.broadcast_shapes(mean.shape[:-1], cov.shape[:-2])
    M = mean.shape[-1]
    mean64 = mean.to(_F64).expand(*batch, M)
    cov64 = cov.to(_F64).expand(*batch, M, M)
    var = torch.diagonal(cov64, dim1=-2, dim2=-1)
    e_phi = _relu_mean64(mean64, var)
    outer = e_phi[..., :, None] * e_phi[..., None, :]
    diag = torch.diag_embed(_relu_second64(mean64, var) - e_phi * e_phi)
    e_zp = _z_phi64(mean64, mean64, cov64, var, e_phi)
    return ReluMoments(e_phi.to(dt), (outer + diag).to(dt), e_zp.to(dt))


# --------------------------------------------------------------------------------------------
# cross moments between two jointly Gaussian vectors
# --------------------------------------------------------------------------------------------


def cross_z_phi(mean_x: torch.Tensor, mean_y: torch.Tensor, cov_xy: torch.Tensor, var_y: torch.Tensor) -> torch.Tensor:
    """E[x φ(y)ᵀ] for jointly Gaussian x ∈ R^P, y ∈ R^M (e.g. z_t and z_{t−1}).

    mean_x (..., P), mean_y (..., M), cov_xy (..., P, M) = Cov(x, y), var_y (..., M).
    Returns (..., P, M) = μ_x E[φ(y)]ᵀ + Cov(x, y) diag(Φ(μ_y/σ_y)) (Stein's lemma; exact).
    """
    dt = _out_dtype(mean_x, mean_y, cov_xy, var_y)
    mx, my, cxy, vy = (t.to(_F64) for t in (mean_x, mean_y, cov_xy, var_y))
    return _z_phi64(mx, my, cxy, vy, _relu_mean64(my, vy)).to(dt)


def cross_phi_phi(
    mean_x: torch.Tensor,
    var_x: torch.Tensor,
    mean_y: torch.Tensor,
    var_y: torch.Tensor,
    cov_xy: torch.Tensor,
    *,
    chunk: int | None = None,
) -> torch.Tensor:
    """E[φ(x) φ(y)ᵀ] for jointly Gaussian x ∈ R^P, y ∈ R^M.

    mean_x, var_x (..., P); mean_y, var_y (..., M); cov_xy (..., P, M) = Cov(x, y).
    Returns (..., P, M), element [p, m] = E[φ(x_p) φ(y_m)] from the exact bivariate formula
    (only the marginal variances and the cross-covariance are needed), in chunks of ``chunk``.
    """
    dt = _out_dtype(mean_x, var_x, mean_y, var_y, cov_xy)
    P, M = cov_xy.shape[-2:]
    batch = torch.broadcast_shapes(
        mean_x.shape[:-1], var_x.shape[:-1], mean_y.shape[:-1], var_y.shape[:-1], cov_xy.shape[:-2]
    )
    mx, vx, my, vy = (_batch_rows(t.to(_F64), 1, batch) for t in (mean_x, var_x, mean_y, var_y))
    cxy = _batch_rows(cov_xy.to(_F64), 2, batch)
    out = torch.empty(cxy.shape, dtype=_F64, device=cxy.device)
    rows = max(1, _chunk_size(chunk, cxy.device) // max(P * M, 1))
    # Chunk over batch rows so the broadcast pair inputs are never materialised in full.
    for start in range(0, out.shape[0], rows):
        sl = slice(start, start + rows)
        out[sl] = _pair64(mx[sl, :, None], vx[sl, :, None], my[sl, None, :], vy[sl, None, :], cxy[sl])
    return out.reshape(*batch, P, M).to(dt)
