"""Mean-field theory of reservoir networks trained to hold fixed points (Rivkind & Barak, PRL 2017).

Notation follows the paper. A target level A is injected through feedback weights w ~ p_w
(``fb``: U(−s, s), the default, or N(0, s²); the paper leaves p_w unstated, and U(−1, 1)
reproduces its Fig. 1D — an unstable oscillatory pair at A₁ = 0.5 for g = 1 — and Fig. 2 — a
resonance at A₁ but not at A₃ for g = 0.9 — where N(0, 1) does not); at the open-loop fixed point x̄ = w A + x̄¹ (Eq. 3) the
stochastic part x̄¹ = W φ(x̄) is Gaussian with variance σ², fixed by Eq. 8::

    σ² = g² ∫𝒟w ∫Dy φ²(wA + σy).

One target (M = 1), Eqs. 11–15::

    β_{0,1} = g² σ⁻² ∫𝒟w ∫Dy φ(x')φ'(x') ξ_{0,1},   x' = wA + σy,  ξ_0 = w,  ξ_1 = σy
    G_OL(ω) = A β₀ / (1 − β₁ + iω),    λ_out = −(1 − A β₀ − β₁)
            = −σ⁻² g² ∫𝒟w Dy φ(x')(φ(x') − x'φ'(x'))                            (Eq. 15)

λ_out < 0 always for tanh and > 0 always for a ReLU with positive threshold (Eq. 15's integrand
has a fixed sign). τ_out = −1/λ_out; the internal time constant is τ_net = 1/(1 − ρ) with
ρ² = g²⟨φ'(x̄)²⟩ (the open-loop disk radius).

M targets (Eqs. 16–18). The readout is w_out = N⁻¹ Σ_m k_m r̄_m with k = C⁻¹A, where
C_mk = ⟨r̄_m, r̄_k⟩ and x̄¹_m, x̄¹_k are jointly Gaussian with covariance Σ = g²C (solved
self-consistently pair by pair). Around fixed point n, the open-loop gain is
G_n(ω) = Σ_m k_m G_nm(ω) (Eq. 17) with G_nm(ω) = ⟨r̄_m R'_n X_n(ω)⟩. This module derives the cross
terms the way Eqs. 9–10 derive the diagonal one (the paper's own derivation is in its
supplementary material, which we did not have): X_n = X⁰ + X¹ with X⁰ = w/(1 + iω) and
⟨x̄¹_j, X¹⟩ = g² G_nj/(1 + iω); projecting X¹ onto span{x̄¹_n, x̄¹_m} (the orthogonal remainder is
independent of both, so it drops out as X¹_⊥ does in Eq. 9) gives

    (1 + iω) G_nm = a_m + D_mn G_nn + D_mm G_nm,    (1 + iω) G_nn = a_n + β₁ G_nn,
    a_m = ⟨w φ(x̄_m) φ'(x̄_n)⟩,   (D_mn, D_mm) = g² S⁻¹ (⟨φ(x̄_m)φ'(x̄_n) x̄¹_n⟩, ⟨φ(x̄_m)φ'(x̄_n) x̄¹_m⟩)

with S the 2×2 covariance of (x̄¹_n, x̄¹_m) — i.e. G_n(ω) = ((1 + iω)I − D)⁻¹a and
G_nm = K_nm (iω − z_nm)/((iω − p_nm)(iω − p_nn)) exactly in the form of Eq. 18 with K_nm = a_m,
p_nm = D_mm − 1, p_nn = β₁ − 1, z_nm = β₁ − 1 − D_mn a_n / a_m. (By Stein's lemma
D_mm = g²⟨φ'(x̄_m)φ'(x̄_n)⟩ ≤ ρ_m ρ_n < 1: the open-loop poles are stable.) The closed-loop poles,
the roots of 1 − G_n(λ) = 0 (Eq. 7), are by the matrix determinant lemma the M eigenvalues of
D + a kᵀ, minus 1. Stability needs all M in the left half plane; the Nyquist criterion
(:func:`nyquist_unstable_count`) gives the same verdict from G_n(ω) alone.

Gaussian integrals: Gauss–Hermite (:func:`numpy.polynomial.hermite_e.hermegauss`) for a smooth
φ (tanh) and for a normal feedback distribution; for the thresholded ReLU, whose φ' jumps at the
threshold (Gauss–Hermite then converges only like 1/n: ~3·10⁻² error in ⟨φ'⟩ with 100 nodes),
the Gaussian line is cut at the threshold and each piece of [−9, 9] is integrated by
Gauss–Legendre (smooth on each piece, so exponentially convergent; the tails beyond 9σ weigh
< 10⁻¹⁸). The feedback weights w are integrated outermost (Gauss–Hermite or Gauss–Legendre);
after the inner Gaussian integral the integrand is smooth in w.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.polynomial.legendre import leggauss
from scipy.optimize import brentq

from neurodyn.errors import ConfigError, NeurodynError
from neurodyn.studies.reservoir_theory.reservoir import FB_DISTRIBUTIONS, Nonlinearity, make_nonlinearity

_SQRT_2PI = math.sqrt(2.0 * math.pi)


class NoFadingMemoryError(NeurodynError):
    """The clamped open loop (Eq. 2) has no fading memory: no finite self-consistent σ² (Eq. 8),
    or a driven fixed point with ρ ≥ 1; the mean-field theory (and training) does not apply."""


@dataclass(frozen=True)
class Quadrature:
    """Node counts: ``n_fb`` for the feedback-weight measure 𝒟w, ``n_gauss`` Gauss–Hermite nodes
    per Gaussian dimension for smooth φ (``n_gauss_pair`` in the 3-D pair integrals),
    ``n_piece`` Gauss–Legendre nodes per piece for piecewise φ (``n_piece_pair`` in pairs),
    ``cutoff``: the Gaussian line is truncated to [−cutoff, cutoff] for piecewise φ."""

    n_fb: int = 48
    n_gauss: int = 64
    n_gauss_pair: int = 40
    n_piece: int = 48
    n_piece_pair: int = 28
    cutoff: float = 9.0


DEFAULT_QUADRATURE = Quadrature()


# ---------------------------------------------------------------------------------------------
# quadrature rules
# ---------------------------------------------------------------------------------------------


def hermite_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights with Σ wᵢ f(ξᵢ) ≈ ⟨f(ξ)⟩, ξ ~ N(0, 1) (probabilists' Gauss–Hermite)."""
    x, w = hermegauss(n)
    return x, w / _SQRT_2PI


def split_normal_rule(breaks: np.ndarray, n: int, cutoff: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """A rule for ⟨f(ξ)⟩, ξ ~ N(0, 1), with f smooth except at ``breaks`` (..., K).

    [−cutoff, cutoff] is cut at the (clipped, sorted) breakpoints and each piece gets ``n``
    Gauss–Legendre nodes weighted by the normal density. Returns nodes and weights of shape
    (..., (K + 1)·n); one rule per leading index (breakpoints may differ per case).
    """
    breaks = np.asarray(breaks, dtype=float)
    breaks = np.where(np.isnan(breaks), cutoff, breaks)
    b = np.sort(np.clip(breaks, -cutoff, cutoff), axis=-1)
    lead = b.shape[:-1]
    edges = np.concatenate([np.full(lead + (1,), -cutoff), b, np.full(lead + (1,), cutoff)], axis=-1)
    t, wt = leggauss(n)
    lo, hi = edges[..., :-1, None], edges[..., 1:, None]
    half = 0.5 * (hi - lo)
    nodes = 0.5 * (lo + hi) + half * t
    weights = half * wt * np.exp(-0.5 * nodes**2) / _SQRT_2PI
    return nodes.reshape(lead + (-1,)), weights.reshape(lead + (-1,))


def gaussian_expectation(
    f: Callable[[np.ndarray], np.ndarray],
    mean: float = 0.0,
    var: float = 1.0,
    *,
    breakpoints: Sequence[float] = (),
    n: int | None = None,
    cutoff: float = 9.0,
) -> float:
    """⟨f(mean + √var ξ)⟩ for ξ ~ N(0, 1).

    Gauss–Hermite with ``n`` (default 64) nodes when f is smooth; with ``breakpoints`` (the x where
    f or its derivative jumps, e.g. a ReLU threshold) the split Gauss–Legendre rule of
    :func:`split_normal_rule` (``n`` default 48 per piece).
    """
    std = math.sqrt(var)
    if std == 0.0:
        return float(f(np.asarray(mean, dtype=float)))
    if breakpoints:
        xi, w = split_normal_rule((np.asarray(breakpoints, dtype=float) - mean) / std, n or 48, cutoff)
    else:
        xi, w = hermite_rule(n or 64)
    return float(np.sum(w * f(mean + std * xi)))


def feedback_rule(fb: str = "uniform", scale: float = 1.0, n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the feedback-weight measure 𝒟w = p_w(w) dw (Eq. 8): Gauss–Hermite for
    w ~ N(0, scale²), Gauss–Legendre for w ~ U(−scale, scale)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ConfigError("fb_scale", f"must be a positive finite number, got {scale!r}")
    if fb == "normal":
        x, w = hermite_rule(n)
        return scale * x, w
    if fb == "uniform":
        t, w = leggauss(n)
        return scale * t, 0.5 * w
    raise ConfigError("fb", f"must be one of {', '.join(FB_DISTRIBUTIONS)}, got {fb!r}")


def _single_grid(phi: Nonlinearity, amplitude: float, sigma: float, fbr, quad: Quadrature):
    """(w, y, weight) arrays of shape (n_w, n_y) for ∫𝒟w ∫Dy f(w, y), x' = wA + σy."""
    wn, ww = fbr
    if phi.breakpoints:
        with np.errstate(divide="ignore", invalid="ignore"):
            breaks = np.stack([(bp - wn * amplitude) / sigma for bp in phi.breakpoints], axis=-1)
        y, gy = split_normal_rule(breaks, quad.n_piece, quad.cutoff)
    else:
        y, gy = hermite_rule(quad.n_gauss)
        y, gy = np.broadcast_to(y, (wn.size, y.size)), np.broadcast_to(gy, (wn.size, gy.size))
    w = np.broadcast_to(wn[:, None], y.shape)
    return w, y, ww[:, None] * gy


def _pair_grid(phi: Nonlinearity, a_n: float, a_m: float, s_nn: float, s_nm: float, s_mm: float, fbr, quad: Quadrature):
    """(w, x̄¹_n, x̄¹_m, weight) of shape (n_w, n1, n2) for the joint measure of w and the Gaussian
    pair (x̄¹_n, x̄¹_m) with covariance [[s_nn, s_nm], [s_nm, s_mm]] (Cholesky: x̄¹_n = s y₁,
    x̄¹_m = c y₁ + d y₂)."""
    wn, ww = fbr
    s = math.sqrt(s_nn)
    c = s_nm / s
    d = math.sqrt(max(s_mm - c * c, 0.0))
    tiny = 1e-12 * math.sqrt(s_mm)
    if not phi.breakpoints:
        y, gy = hermite_rule(quad.n_gauss_pair)
        y1 = np.broadcast_to(y[None, :, None], (wn.size, y.size, 1))
        g1 = np.broadcast_to(gy[None, :, None], y1.shape)
        if d > tiny:
            y2, g2 = y[None, None, :], gy[None, None, :]
        else:
            y2, g2 = np.zeros((1, 1, 1)), np.ones((1, 1, 1))
    else:
        cuts = [(bp - wn * a_n) / s for bp in phi.breakpoints]
        if abs(c) > tiny:  # x̄_m's kink seen through y₁ (matters when d is small)
            cuts += [(bp - wn * a_m) / c for bp in phi.breakpoints]
        y1, g1 = split_normal_rule(np.stack(cuts, axis=-1), quad.n_piece_pair, quad.cutoff)
        y1, g1 = y1[:, :, None], g1[:, :, None]
        if d > tiny:
            cuts2 = np.stack([(bp - wn[:, None] * a_m - c * y1[:, :, 0]) / d for bp in phi.breakpoints], axis=-1)
            y2, g2 = split_normal_rule(cuts2, quad.n_piece_pair, quad.cutoff)
        else:
            y2, g2 = np.zeros((1, 1, 1)), np.ones((1, 1, 1))
    shape = np.broadcast_shapes(y1.shape, y2.shape)
    w = np.broadcast_to(wn[:, None, None], shape)
    xb_n = np.broadcast_to(s * y1, shape)
    xb_m = np.broadcast_to(c * y1 + d * y2, shape)
    weight = np.broadcast_to(ww[:, None, None] * g1 * g2, shape)
    return w, xb_n, xb_m, weight


# ---------------------------------------------------------------------------------------------
# one target (Eqs. 8, 11–15)
# ---------------------------------------------------------------------------------------------


def _check_gain(g: float) -> float:
    if isinstance(g, bool) or not isinstance(g, numbers.Real) or not math.isfinite(g) or g <= 0:
        raise ConfigError("g", f"must be a positive finite gain, got {g!r}")
    return float(g)


def _check_amplitude(amplitude: float, name: str = "amplitude") -> float:
    if (
        isinstance(amplitude, bool)
        or not isinstance(amplitude, numbers.Real)
        or not math.isfinite(amplitude)
        or amplitude == 0
    ):
        raise ConfigError(
            name,
            f"must be a finite non-zero target level, got {amplitude!r} (a zero target "
            f"gives rates r̄ = φ(x̄) that a readout cannot be normalised by)",
        )
    return float(amplitude)


def rate_variance(
    phi: Nonlinearity,
    g: float,
    amplitude: float,
    sigma2: float,
    *,
    fb: str = "uniform",
    fb_scale: float = 1.0,
    quad: Quadrature = DEFAULT_QUADRATURE,
) -> float:
    """The right-hand side of Eq. 8: g² ∫𝒟w ∫Dy φ²(wA + σy)."""
    fbr = feedback_rule(fb, fb_scale, quad.n_fb)
    w, y, wt = _single_grid(phi, amplitude, math.sqrt(max(sigma2, 0.0)), fbr, quad)
    return float(g * g * np.sum(wt * phi(w * amplitude + math.sqrt(max(sigma2, 0.0)) * y) ** 2))


def solve_sigma2(
    phi: str | Nonlinearity,
    g: float,
    amplitude: float,
    *,
    threshold: float | None = None,
    fb: str = "uniform",
    fb_scale: float = 1.0,
    quad: Quadrature = DEFAULT_QUADRATURE,
) -> float:
    """The self-consistent variance σ² of Eq. 8 (its smallest positive root, the state reached
    from x = 0), by a log-spaced scan for the first sign change of F(σ²) = RHS − σ² and Brent's
    method there.

    Raises :class:`NoFadingMemoryError` when no finite root exists: an unbounded φ whose
    ⟨φ²⟩ grows like growth·σ² (½ for a ReLU) with g²·growth ≥ 1, i.e. g ≥ √2 for the ReLU — the
    variance recursion then runs away and the open loop has no fading memory.
    """
    phi = make_nonlinearity(phi, threshold)
    g = _check_gain(g)
    amplitude = _check_amplitude(amplitude)
    if g * g * phi.growth >= 1.0:
        raise NoFadingMemoryError(
            f"no finite self-consistent sigma^2 (Eq. 8) for {phi} with g = {g:g}: <phi^2> grows like "
            f"{phi.growth:g}*sigma^2, so g^2*{phi.growth:g} = {g * g * phi.growth:.3g} >= 1 (g >= "
            f"{1 / math.sqrt(phi.growth):.4g}) and the variance runs away; the open loop has no fading memory"
        )

    def F(s: float) -> float:
        return rate_variance(phi, g, amplitude, s, fb=fb, fb_scale=fb_scale, quad=quad) - s

    f0 = F(0.0)
    if f0 <= 0.0:
        raise ConfigError(
            "amplitude",
            f"A = {amplitude:g} leaves every rate of {phi} at zero (sigma^2 = 0); the target cannot be read out",
        )
    s_hi = max(1.0, 4.0 * (amplitude * fb_scale) ** 2, 2.0 * f0)
    while F(s_hi) > 0.0:
        s_hi *= 4.0
        if s_hi > 1e14:
            raise NoFadingMemoryError(
                f"no finite self-consistent sigma^2 (Eq. 8) for {phi} with g = {g:g}, "
                f"A = {amplitude:g} below 1e14; the open loop has no fading memory"
            )
    grid = np.concatenate([[0.0], np.geomspace(1e-9 * s_hi, s_hi, 90)])
    prev = 0.0
    for s in grid[1:]:
        if F(s) <= 0.0:
            return float(brentq(F, prev, s, xtol=1e-15, rtol=4e-15, maxiter=200))
        prev = s
    raise AssertionError("unreachable: F(s_hi) <= 0")  # pragma: no cover


@dataclass(frozen=True)
class MeanField:
    """Mean-field quantities of one trained fixed point z = A (M = 1; Eqs. 8–15)."""

    phi: Nonlinearity
    g: float
    amplitude: float
    fb: str
    fb_scale: float
    sigma2: float
    beta0: float
    beta1: float
    rho: float
    lambda_out_eq15: float

    @property
    def lambda_out(self) -> float:
        """The closed-loop outlier λ_out = −(1 − Aβ₀ − β₁) (Eq. 14)."""
        return -(1.0 - self.amplitude * self.beta0 - self.beta1)

    @property
    def open_loop_pole(self) -> float:
        """The pole of G_OL, β₁ − 1 (Eq. 13)."""
        return self.beta1 - 1.0

    @property
    def dc_gain(self) -> float:
        """G_OL(0) = Aβ₀/(1 − β₁); < 1 ⟺ stable for M = 1."""
        return self.amplitude * self.beta0 / (1.0 - self.beta1)

    @property
    def stable(self) -> bool:
        return self.lambda_out < 0.0

    @property
    def tau_out(self) -> float:
        """Output settling time τ_out = −1/λ_out (negative when unstable)."""
        return -1.0 / self.lambda_out

    @property
    def tau_net(self) -> float:
        """Internal time constant τ_net = 1/(1 − ρ), diverging at the edge of chaos ρ → 1."""
        return math.inf if self.rho >= 1 else 1.0 / (1.0 - self.rho)

    def open_loop_gain(self, omega) -> np.ndarray:
        """G_OL(ω) = Aβ₀/(1 − β₁ + iω) (Eq. 13)."""
        omega = np.asarray(omega, dtype=float)
        return self.amplitude * self.beta0 / (1.0 - self.beta1 + 1j * omega)

    def closed_loop_gain(self, omega) -> np.ndarray:
        """G_CL = G_OL/(1 − G_OL) (Eq. 7)."""
        gol = self.open_loop_gain(omega)
        return gol / (1.0 - gol)

    def to_json(self) -> dict[str, Any]:
        return {
            "phi": self.phi.name,
            "threshold": self.phi.threshold if self.phi.name == "relu" else None,
            "g": self.g,
            "amplitude": self.amplitude,
            "fb": self.fb,
            "fb_scale": self.fb_scale,
            "sigma2": self.sigma2,
            "beta0": self.beta0,
            "beta1": self.beta1,
            "rho": self.rho,
            "lambda_out": self.lambda_out,
            "lambda_out_eq15": self.lambda_out_eq15,
            "open_loop_pole": self.open_loop_pole,
            "dc_gain": self.dc_gain,
            "tau_out": self.tau_out,
            "tau_net": self.tau_net,
            "stable": self.stable,
        }


def mean_field(
    phi: str | Nonlinearity = "tanh",
    g: float = 1.5,
    amplitude: float = 1.0,
    *,
    threshold: float | None = None,
    fb: str = "uniform",
    fb_scale: float = 1.0,
    quad: Quadrature = DEFAULT_QUADRATURE,
    require_fading_memory: bool = True,
) -> MeanField:
    """σ² (Eq. 8), β₀, β₁ (Eq. 11), ρ, λ_out (Eq. 14, and Eq. 15 independently) for one target A.

    Raises :class:`NoFadingMemoryError` when Eq. 8 has no finite root or (with
    ``require_fading_memory``) when the driven fixed point has ρ = g√⟨φ'²⟩ ≥ 1.
    """
    phi = make_nonlinearity(phi, threshold)
    g = _check_gain(g)
    amplitude = _check_amplitude(amplitude)
    s2 = solve_sigma2(phi, g, amplitude, fb=fb, fb_scale=fb_scale, quad=quad)
    sigma = math.sqrt(s2)
    w, y, wt = _single_grid(phi, amplitude, sigma, feedback_rule(fb, fb_scale, quad.n_fb), quad)
    x = w * amplitude + sigma * y
    r, rp = phi(x), phi.derivative(x)
    rho = g * math.sqrt(float(np.sum(wt * rp**2)))
    if require_fading_memory and rho >= 1.0:
        raise NoFadingMemoryError(
            f"the open loop driven by A = {amplitude:g} ({phi}, g = {g:g}) has "
            f"rho = g*sqrt(<phi'^2>) = {rho:.4f} >= 1: its fixed point is not stable "
            f"(no fading memory)"
        )
    scale = g * g / s2
    beta0 = scale * float(np.sum(wt * r * rp * w))
    beta1 = scale * float(np.sum(wt * r * rp * sigma * y))
    lam15 = -scale * float(np.sum(wt * r * (r - x * rp)))
    return MeanField(
        phi=phi,
        g=g,
        amplitude=amplitude,
        fb=fb,
        fb_scale=float(fb_scale),
        sigma2=s2,
        beta0=beta0,
        beta1=beta1,
        rho=rho,
        lambda_out_eq15=lam15,
    )


# ---------------------------------------------------------------------------------------------
# M targets (Eqs. 16–18)
# ---------------------------------------------------------------------------------------------


def nyquist_unstable_count(
    gain: Callable[[np.ndarray], np.ndarray],
    *,
    critical: complex = 1.0 + 0.0j,
    open_loop_unstable: int = 0,
    scale: float = 1.0,
    n: int = 2001,
    max_step: float = 0.25,
    max_rounds: int = 30,
) -> int:
    """Closed-loop right-half-plane poles Z from the Nyquist criterion on the open-loop gain.

    With positive feedback G_CL = G_OL/(1 − G_OL) (Eq. 7) the closed-loop poles are where
    G_OL = 1, so the critical point is 1 + 0i: Z = P + (clockwise encirclements of ``critical`` by
    G_OL(ω), ω from −∞ to +∞), P = ``open_loop_unstable`` (0 for an echo-state open loop, [33]).
    ω = scale·tan θ on a θ grid refined until the phase of G_OL − critical moves by less than
    ``max_step`` rad between samples; G_OL(±∞) = 0 closes the contour (strictly proper gain).
    """
    theta = np.linspace(-0.5 * math.pi, 0.5 * math.pi, n)[1:-1]
    for _ in range(max_rounds):
        f = gain(scale * np.tan(theta)) - critical
        step = np.angle(f[1:] / f[:-1])
        bad = np.flatnonzero(np.abs(step) > max_step)
        if bad.size == 0:
            break
        theta = np.sort(np.concatenate([theta, 0.5 * (theta[bad] + theta[bad + 1])]))
    if np.min(np.abs(f)) < 1e-12:
        raise NeurodynError(
            "the open-loop gain passes through the critical point: a closed-loop pole lies on "
            "the imaginary axis (marginal stability)"
        )
    total = float(np.sum(step) + np.angle(f[0] / f[-1]))
    turns = total / (2.0 * math.pi)
    return int(open_loop_unstable - round(turns))


@dataclass
class LocalDynamics:
    """Mean-field output dynamics around the n-th trained fixed point (Eqs. 16–18).

    ``a`` (M,), ``D`` (M×M) and ``k`` (M,) define G_n(ω) = kᵀ((1 + iω)I − D)⁻¹a.
    """

    n: int
    targets: np.ndarray
    a: np.ndarray
    D: np.ndarray
    k: np.ndarray
    sigma2: float
    rho: float

    @property
    def beta1(self) -> float:
        return float(self.D[self.n, self.n])

    @property
    def open_loop_poles(self) -> np.ndarray:
        """Poles of G_n: p_nm = D_mm − 1 (p_nn = β₁ − 1), Eq. 18."""
        return np.diag(self.D).astype(complex) - 1.0

    @property
    def poles(self) -> np.ndarray:
        """The M closed-loop poles (roots of G_n(λ) = 1): eig(D + a kᵀ) − 1, rightmost first."""
        lam = np.linalg.eigvals(self.D + np.outer(self.a, self.k)) - 1.0
        return lam[np.lexsort((-lam.imag, -lam.real))]

    @property
    def stable(self) -> bool:
        """All M closed-loop poles in the left half plane."""
        return bool(np.max(self.poles.real) < 0.0)

    def eq18(self) -> dict[str, np.ndarray]:
        """K_nm, z_nm, p_nm, p_nn of G_nm(ω) = K(iω − z)/((iω − p_nm)(iω − p_nn)) (Eq. 18; the
        diagonal m = n has no zero: G_nn = a_n/(iω − p_nn)). z_nm is NaN where K_nm = 0."""
        n = self.n
        p_nn = self.D[n, n] - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            z = p_nn - self.D[:, n] * self.a[n] / self.a
        z[n] = np.nan
        return {"K": self.a.copy(), "z": z, "p": np.diag(self.D) - 1.0, "p_nn": np.float64(p_nn)}

    def cross_gains(self, omega) -> np.ndarray:
        """G_nm(ω) for all m, shape (len(ω), M), from the linear system (1 + iω)G = a + D G."""
        omega = np.atleast_1d(np.asarray(omega, dtype=float))
        M = self.a.size
        mats = (1.0 + 1j * omega)[:, None, None] * np.eye(M) - self.D[None]
        return np.linalg.solve(mats, np.broadcast_to(self.a.astype(complex), (omega.size, M))[..., None])[..., 0]

    def cross_gains_eq18(self, omega) -> np.ndarray:
        """G_nm(ω) evaluated from the closed form of Eq. 18 (a check on :meth:`cross_gains`)."""
        omega = np.atleast_1d(np.asarray(omega, dtype=float))[:, None]
        s = 1j * omega
        p = self.eq18()
        n = self.n
        out = (self.a * (s - (self.D[n, n] - 1.0)) + self.D[:, n] * self.a[n]) / ((s - p["p"]) * (s - p["p_nn"]))
        out[:, n] = self.a[n] / (s[:, 0] - p["p_nn"])
        return out

    def open_loop_gain(self, omega) -> np.ndarray:
        """G_n^OL(ω) = Σ_m k_m G_nm(ω) (Eq. 17)."""
        return self.cross_gains(omega) @ self.k

    def closed_loop_gain(self, omega) -> np.ndarray:
        """G^CL = G^OL/(1 − G^OL) (Eq. 7)."""
        gol = self.open_loop_gain(omega)
        return gol / (1.0 - gol)

    def nyquist_unstable(self, critical: complex = 1.0 + 0.0j) -> int:
        """Closed-loop RHP poles by the Nyquist criterion on G_n^OL (:func:`nyquist_unstable_count`)."""
        p_ol = int(np.sum(self.open_loop_poles.real > 0))
        scale = max(1.0, float(np.max(np.abs(self.open_loop_poles))))
        return nyquist_unstable_count(self.open_loop_gain, critical=critical, open_loop_unstable=p_ol, scale=scale)

    @property
    def nyquist_stable(self) -> bool:
        return self.nyquist_unstable() == 0

    def resonance(self, omega=None) -> tuple[float, float, float]:
        """(ω_peak, |G_CL(ω_peak)|, |G_CL(0)|) of the closed-loop gain on ``omega`` (default 0..3)."""
        omega = np.linspace(0.0, 3.0, 3001) if omega is None else np.asarray(omega, dtype=float)
        mag = np.abs(self.closed_loop_gain(omega))
        i = int(np.argmax(mag))
        return float(omega[i]), float(mag[i]), float(np.abs(self.closed_loop_gain(0.0))[0])

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.n,
            "target": float(self.targets[self.n]),
            "sigma2": self.sigma2,
            "rho": self.rho,
            "beta1": self.beta1,
            "poles": [[float(p.real), float(p.imag)] for p in self.poles],
            "open_loop_poles": [[float(p.real), float(p.imag)] for p in self.open_loop_poles],
            "stable": self.stable,
            "nyquist_stable": self.nyquist_stable,
        }


@dataclass
class MultiTargetMeanField:
    """Mean-field theory of a network trained on M fixed-point targets (Eqs. 16–18).

    ``singles[m]`` is the M = 1 theory of target m (σ_m², β's, ρ_m); ``C`` the rate overlaps
    ⟨r̄_m, r̄_k⟩ (Σ = g²C), ``k = C⁻¹A`` the readout coefficients of Eq. 16. :meth:`local` gives
    the dynamics around one fixed point.
    """

    phi: Nonlinearity
    g: float
    targets: np.ndarray
    fb: str
    fb_scale: float
    quad: Quadrature
    singles: list[MeanField]
    C: np.ndarray
    k: np.ndarray
    _local: dict[int, LocalDynamics] = field(default_factory=dict, repr=False)

    @property
    def sigma2(self) -> np.ndarray:
        return np.array([s.sigma2 for s in self.singles])

    @property
    def Sigma(self) -> np.ndarray:
        return self.g**2 * self.C

    def _fbr(self):
        return feedback_rule(self.fb, self.fb_scale, self.quad.n_fb)

    def pair_expectation(self, n: int, m: int, f: Callable[..., np.ndarray]) -> float:
        """⟨f(w, x̄_n, x̄_m, x̄¹_n, x̄¹_m)⟩ under the mean-field measure of the pair (n, m), n ≠ m."""
        S = self.Sigma
        A = self.targets
        w, xb_n, xb_m, wt = _pair_grid(self.phi, A[n], A[m], S[n, n], S[n, m], S[m, m], self._fbr(), self.quad)
        return float(np.sum(wt * f(w, w * A[n] + xb_n, w * A[m] + xb_m, xb_n, xb_m)))

    def local(self, n: int) -> LocalDynamics:
        """a, D of Eq. 18 (see the module docstring) around fixed point n (0-based)."""
        M = self.targets.size
        if not 0 <= n < M:
            raise ConfigError("index", f"must be in 0..{M - 1}, got {n}")
        if n in self._local:
            return self._local[n]
        phi, g = self.phi, self.g
        S = self.Sigma
        single = self.singles[n]
        a = np.zeros(M)
        D = np.zeros((M, M))
        a[n] = single.beta0 * single.sigma2 / g**2
        D[n, n] = single.beta1
        for m in range(M):
            if m == n:
                continue
            A = self.targets
            w, xb_n, xb_m, wt = _pair_grid(phi, A[n], A[m], S[n, n], S[n, m], S[m, m], self._fbr(), self.quad)
            f = wt * phi(w * A[m] + xb_m) * phi.derivative(w * A[n] + xb_n)
            a[m] = float(np.sum(f * w))
            proj = np.array([np.sum(f * xb_n), np.sum(f * xb_m)])
            if S[m, m] - S[n, m] ** 2 / S[n, n] <= 1e-10 * S[m, m]:
                # x̄¹_m ∝ x̄¹_n (e.g. targets ±A with an odd φ): project X¹ on x̄¹_n alone
                D[m, n], D[m, m] = g**2 * proj[0] / S[n, n], 0.0
            else:
                cov = np.array([[S[n, n], S[n, m]], [S[n, m], S[m, m]]])
                D[m, n], D[m, m] = g**2 * np.linalg.solve(cov, proj)
        out = LocalDynamics(n=n, targets=self.targets, a=a, D=D, k=self.k, sigma2=single.sigma2, rho=single.rho)
        self._local[n] = out
        return out

    def to_json(self) -> dict[str, Any]:
        locs = [self.local(n) for n in range(self.targets.size)]
        return {
            "phi": self.phi.name,
            "threshold": self.phi.threshold if self.phi.name == "relu" else None,
            "g": self.g,
            "targets": self.targets.tolist(),
            "M": int(self.targets.size),
            "fb": self.fb,
            "fb_scale": self.fb_scale,
            "sigma2": self.sigma2.tolist(),
            "beta0": [s.beta0 for s in self.singles],
            "beta1": [s.beta1 for s in self.singles],
            "rho": [s.rho for s in self.singles],
            "k": self.k.tolist(),
            "C": self.C.tolist(),
            "poles": [[[float(p.real), float(p.imag)] for p in loc.poles] for loc in locs],
            "open_loop_poles": [[[float(p.real), float(p.imag)] for p in loc.open_loop_poles] for loc in locs],
            "stable": [loc.stable for loc in locs],
            "nyquist_stable": [loc.nyquist_stable for loc in locs],
        }


def mean_field_targets(
    phi: str | Nonlinearity = "tanh",
    g: float = 1.0,
    targets: Sequence[float] = (0.5, 1.0, 1.5),
    *,
    threshold: float | None = None,
    fb: str = "uniform",
    fb_scale: float = 1.0,
    quad: Quadrature = DEFAULT_QUADRATURE,
    require_fading_memory: bool = True,
) -> MultiTargetMeanField:
    """The M-target theory: σ_m² (Eq. 8 per target), the cross-covariances Σ_mk = g²⟨φ(x̄_m)φ(x̄_k)⟩
    (self-consistent, a contraction with factor g²⟨φ'φ'⟩ ≤ ρ_mρ_k < 1, solved by Brent's method on
    the Cauchy–Schwarz bracket), C = Σ/g² and k = C⁻¹A (Eq. 16)."""
    phi = make_nonlinearity(phi, threshold)
    g = _check_gain(g)
    targets = np.atleast_1d(np.asarray(targets, dtype=float))
    if targets.ndim != 1 or targets.size < 1:
        raise ConfigError("targets", f"must be a non-empty list of numbers, got {targets!r}")
    for t in targets:
        _check_amplitude(float(t), "targets")
    if np.unique(targets).size != targets.size:
        raise ConfigError("targets", f"must be distinct, got {targets.tolist()}")
    singles = [
        mean_field(phi, g, float(t), fb=fb, fb_scale=fb_scale, quad=quad, require_fading_memory=require_fading_memory)
        for t in targets
    ]
    M = targets.size
    Sigma = np.diag([s.sigma2 for s in singles])
    fbr = feedback_rule(fb, fb_scale, quad.n_fb)
    for n in range(M):
        for m in range(n + 1, M):
            bound = math.sqrt(Sigma[n, n] * Sigma[m, m])

            def F(c: float, n=n, m=m) -> float:
                w, xb_n, xb_m, wt = _pair_grid(phi, targets[n], targets[m], Sigma[n, n], c, Sigma[m, m], fbr, quad)
                return g * g * float(np.sum(wt * phi(w * targets[n] + xb_n) * phi(w * targets[m] + xb_m))) - c

            lo, hi = -bound, bound
            f_lo, f_hi = F(lo), F(hi)
            if f_hi >= 0.0:  # perfectly correlated within quadrature accuracy
                c = hi
            elif f_lo <= 0.0:
                c = lo
            else:
                c = brentq(F, lo, hi, xtol=1e-14 * bound, rtol=4e-15, maxiter=200)
            Sigma[n, m] = Sigma[m, n] = c
    C = Sigma / g**2
    # minimum-norm k (= the minimum-norm readout R̄⁺A of a finite network); C is singular when two
    # targets give proportional rates (±A with an odd φ and a symmetric p_w)
    k = np.linalg.lstsq(C, targets, rcond=1e-10)[0]
    if np.max(np.abs(C @ k - targets)) > 1e-8 * np.max(np.abs(targets)):
        raise ConfigError(
            "targets", f"targets {targets.tolist()} give linearly dependent rates that no readout maps to these levels"
        )
    return MultiTargetMeanField(
        phi=phi, g=g, targets=targets, fb=fb, fb_scale=float(fb_scale), quad=quad, singles=singles, C=C, k=k
    )


__all__ = [
    "DEFAULT_QUADRATURE",
    "LocalDynamics",
    "MeanField",
    "MultiTargetMeanField",
    "NoFadingMemoryError",
    "Quadrature",
    "feedback_rule",
    "gaussian_expectation",
    "hermite_rule",
    "mean_field",
    "mean_field_targets",
    "nyquist_unstable_count",
    "rate_variance",
    "solve_sigma2",
    "split_normal_rule",
]
