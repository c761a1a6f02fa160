"""Exact Gaussian ReLU moments and the bivariate normal CDF (neurodyn.models.plrnn_em.relu_moments).

References used here are independent of the implementation: Owen's T function
(scipy.special.owens_t, Owen 1956) and 1-D/2-D adaptive quadrature for Φ₂ and the moments,
Monte Carlo with its standard error for everything. scipy.stats.multivariate_normal.cdf is a
randomised QMC integrator (accurate to ~1e−7 at best), so it is only a loose cross-check.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from neurodyn.models.plrnn_em.relu_moments import (
    bivariate_normal_cdf,
    cross_phi_phi,
    cross_z_phi,
    independent_relu_moments,
    relu_mean,
    relu_moments,
    relu_pair_moment,
    relu_second_moment,
)

F64 = torch.float64
# Monte Carlo sample size: SE ~ 1e−3 relative; the file stays well under 15 s on 2 cores.
N_MC = 1_000_000


# --------------------------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------------------------


def bvn_owen(h: np.ndarray, k: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Φ₂(h, k; ρ) from Owen's T: ½Φ(h) + ½Φ(k) − T(h, a_h) − T(k, a_k) − β (Owen 1956).

    a_h = (k − ρh)/(h√(1−ρ²)), a_k = (h − ρk)/(k√(1−ρ²)), β = ½ if hk < 0 or (hk = 0 and
    h + k < 0). Infinite limits and ρ = ±1 by their exact formulas.
    """
    h, k, r = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (h, k, r)))
    out = np.empty(h.shape)
    for i in np.ndindex(h.shape):
        hi, ki, ri = h[i], k[i], r[i]
        if hi == -np.inf or ki == -np.inf:
            out[i] = 0.0
        elif hi == np.inf:
            out[i] = special.ndtr(ki)
        elif ki == np.inf:
            out[i] = special.ndtr(hi)
        elif ri == 1.0:
            out[i] = special.ndtr(min(hi, ki))
        elif ri == -1.0:
            out[i] = max(0.0, special.ndtr(hi) - special.ndtr(-ki))
        elif hi == 0.0 and ki == 0.0:
            out[i] = 0.25 + math.asin(ri) / (2 * math.pi)
        else:
            s = math.sqrt((1 - ri) * (1 + ri))
            th = special.owens_t(hi, (ki - ri * hi) / (hi * s)) if hi != 0 else 0.25 * np.sign(ki)
            tk = special.owens_t(ki, (hi - ri * ki) / (ki * s)) if ki != 0 else 0.25 * np.sign(hi)
            beta = 0.5 if (hi * ki < 0 or (hi * ki == 0 and hi + ki < 0)) else 0.0
            out[i] = 0.5 * special.ndtr(hi) + 0.5 * special.ndtr(ki) - th - tk - beta
    return out


def bvn_quad(h: float, k: float, r: float) -> float:
    """Φ₂ = ∫_{−∞}^h ϕ(x) Φ((k − ρx)/√(1−ρ²)) dx by adaptive quadrature (moderate ρ only).

    The lower limit −12 loses < 1e−32; a far lower limit would make quad miss the bulk.
    """
    s = math.sqrt(1 - r * r)
    val, _ = integrate.quad(
        lambda x: math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) * special.ndtr((k - r * x) / s),
        -12.0,
        h,
        epsabs=1e-15,
        epsrel=1e-13,
        limit=400,
    )
    return val


def pair_dblquad(mu: tuple[float, float], var: tuple[float, float], c12: float) -> float:
    """E[φ(x)φ(y)] = ∫₀^∞∫₀^∞ x y p(x, y) dx dy by 2-D adaptive quadrature (scipy dblquad)."""
    s1, s2 = math.sqrt(var[0]), math.sqrt(var[1])
    r = c12 / (s1 * s2)
    norm = 1.0 / (2 * math.pi * s1 * s2 * math.sqrt(1 - r * r))

    def f(y: float, x: float) -> float:
        u, v = (x - mu[0]) / s1, (y - mu[1]) / s2
        return x * y * norm * math.exp(-(u * u - 2 * r * u * v + v * v) / (2 * (1 - r * r)))

    val, _ = integrate.dblquad(f, 0.0, mu[0] + 12 * s1, 0.0, mu[1] + 12 * s2, epsabs=1e-11, epsrel=1e-11)
    return val


def mc_samples(mean: torch.Tensor, cov: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n samples of N(mean, cov), (n, M); cov may be singular (eigen-factor, not Cholesky)."""
    g = torch.Generator().manual_seed(seed)
    evals, evecs = torch.linalg.eigh(cov)
    factor = evecs * evals.clamp(min=0).sqrt()
    return mean + torch.randn(n, mean.shape[-1], generator=g, dtype=F64) @ factor.T


def mc_outer(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo E[a bᵀ] and its standard error, from samples a (n, P), b (n, M)."""
    n = a.shape[0]
    est = a.T @ b / n
    second = (a * a).T @ (b * b) / n
    return est, ((second - est**2).clamp(min=0) / n).sqrt()


def assert_within_se(exact: torch.Tensor, est: torch.Tensor, se: torch.Tensor, name: str, n_se: float = 5.0) -> None:
    z = (exact - est).abs() / (n_se * se + 1e-12)
    assert torch.isfinite(exact).all(), name
    assert z.max() < 1.0, f"{name}: |exact − MC| up to {z.max().item() * n_se:.2f} SE\n{exact}\n{est}"


def random_cov(M: int, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    L = torch.randn(M, M, generator=g, dtype=F64)
    return scale * (L @ L.T) / M + 0.05 * torch.eye(M, dtype=F64)


def equicorrelated(M: int, var: float, rho: float) -> torch.Tensor:
    return var * ((1 - rho) * torch.eye(M, dtype=F64) + rho * torch.ones(M, M, dtype=F64))


# --------------------------------------------------------------------------------------------
# bivariate normal CDF
# --------------------------------------------------------------------------------------------

GRID_HK = [*range(-5, 6), math.inf, -math.inf]
GRID_RHO = [-1.0, -0.999, -0.95, -0.925, -0.5, 0.0, 0.3, 0.75, 0.93, 0.999, 1.0]


def test_bvn_grid_matches_owens_t_reference():
    h, k, r = (np.array(v, dtype=float) for v in zip(*itertools.product(GRID_HK, GRID_HK, GRID_RHO)))
    got = bivariate_normal_cdf(torch.tensor(h), torch.tensor(k), torch.tensor(r)).numpy()
    err = np.abs(got - bvn_owen(h, k, r))
    assert err.max() < 1e-10, (err.max(), h[err.argmax()], k[err.argmax()], r[err.argmax()])


def test_bvn_random_points_incl_rho_near_one():
    rng = np.random.default_rng(3)
    n = 3000
    h = rng.normal(0.0, 2.5, n)
    k = rng.normal(0.0, 2.5, n)
    k[:300] = h[:300] + rng.normal(0.0, 1e-3, 300)  # h ≈ k: the steep case of the ρ→1 form
    rho = rng.uniform(-1, 1, n)
    rho[n // 2 :] = rng.choice([-1.0, 1.0], n - n // 2) * (1 - 10 ** rng.uniform(-12, -1, n - n // 2))
    got = bivariate_normal_cdf(torch.tensor(h), torch.tensor(k), torch.tensor(rho)).numpy()
    err = np.abs(got - bvn_owen(h, k, rho))
    assert err.max() < 1e-10, err.max()


@pytest.mark.parametrize("h,k,r", [(-1.3, 0.4, 0.2), (0.7, 2.1, -0.6), (1.5, -0.5, 0.8), (-2.0, -1.0, 0.9)])
def test_bvn_matches_quadrature_and_scipy(h, k, r):
    got = bivariate_normal_cdf(*(torch.tensor(v, dtype=F64) for v in (h, k, r))).item()
    assert abs(got - bvn_quad(h, k, r)) < 1e-10
    # scipy's QMC integrator is only accurate to its tolerance; a loose agreement check.
    mvn = stats.multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, r], [r, 1.0]], abseps=1e-9, releps=1e-9)
    assert abs(got - mvn.cdf([h, k])) < 1e-6


def test_bvn_shapes_limits_and_invalid_inputs():
    h = torch.linspace(-3, 3, 5, dtype=F64)[:, None]
    k = torch.linspace(-2, 2, 4, dtype=F64)
    out = bivariate_normal_cdf(h, k, torch.tensor(0.4, dtype=F64))
    assert out.shape == (5, 4) and out.dtype == F64
    # Symmetric in (h, k), monotone in ρ.
    assert torch.allclose(out, bivariate_normal_cdf(k[:, None], h.T, 0.4).T, atol=1e-15, rtol=0)
    rhos = torch.linspace(-1, 1, 41, dtype=F64)
    assert (torch.diff(bivariate_normal_cdf(0.3, -0.2, rhos)) >= -1e-15).all()
    # Huge finite limits behave like infinite ones and do not overflow.
    big = bivariate_normal_cdf(
        torch.tensor([1e6, 1e6, -1e6]), torch.tensor([0.5, -1e6, 0.5]), torch.tensor([0.99, -0.95, 0.5])
    )
    assert torch.allclose(big, torch.tensor([special.ndtr(0.5), 0.0, 0.0], dtype=F64), atol=1e-15)
    bad = bivariate_normal_cdf(
        torch.tensor([math.nan, 0.0, 0.0]), torch.tensor([0.0, math.nan, 0.0]), torch.tensor([0.1, 0.1, 1.5])
    )
    assert torch.isnan(bad).all()
    assert bivariate_normal_cdf(torch.tensor(0.1, dtype=torch.float32), 0.2, 0.3).dtype == F64


# --------------------------------------------------------------------------------------------
# moments vs Monte Carlo
# --------------------------------------------------------------------------------------------

MC_CASES = {
    "random_M3": (torch.tensor([0.3, -0.5, 1.0], dtype=F64), random_cov(3, 1.0, 0)),
    "high_var_corr_M4": (torch.tensor([-1.0, 0.5, 2.0, -3.0], dtype=F64), random_cov(4, 25.0, 1)),
    "equicorr_0.97_M5": (torch.tensor([0.2, -0.4, 0.0, 1.0, -2.0], dtype=F64), equicorrelated(5, 9.0, 0.97)),
    "mixed_sign_rho_M4": (
        torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=F64),
        torch.tensor(
            [[4.0, -3.8, 3.0, 0.0], [-3.8, 4.0, -2.9, 0.1], [3.0, -2.9, 9.0, -2.0], [0.0, 0.1, -2.0, 1.0]], dtype=F64
        ),
    ),
}


@pytest.mark.parametrize("case", list(MC_CASES))
def test_relu_moments_match_monte_carlo(case):
    mean, cov = MC_CASES[case]
    z = mc_samples(mean, cov, N_MC, seed=11)
    p = z.clamp(min=0)
    got = relu_moments(mean, cov)
    n = z.shape[0]
    assert_within_se(got.e_phi, p.mean(0), p.std(0) / math.sqrt(n), f"{case} e_phi")
    assert_within_se(got.e_phi_phi, *mc_outer(p, p), f"{case} e_phi_phi")
    assert_within_se(got.e_z_phi, *mc_outer(z, p), f"{case} e_z_phi")


def test_cross_moments_match_monte_carlo():
    # x = z[:3], y = z[3:] from one joint Gaussian, as for consecutive time steps.
    joint = random_cov(7, 16.0, 5)
    mean = torch.tensor([0.5, -1.0, 0.0, 1.0, -0.5, 2.0, -2.0], dtype=F64)
    z = mc_samples(mean, joint, N_MC, seed=12)
    x, y = z[:, :3], z[:, 3:]
    var = joint.diagonal()
    mx, my, vx, vy, cxy = mean[:3], mean[3:], var[:3], var[3:], joint[:3, 3:]
    assert_within_se(cross_z_phi(mx, my, cxy, vy), *mc_outer(x, y.clamp(min=0)), "E[x φ(y)ᵀ]")
    assert_within_se(cross_phi_phi(mx, vx, my, vy, cxy), *mc_outer(x.clamp(min=0), y.clamp(min=0)), "E[φ(x) φ(y)ᵀ]")


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_perfectly_correlated_pairs_match_1d_quadrature(sign):
    # z2 = μ2 + sign·σ2 u exactly (ρ = ±1): the |ρ| = 1 limits of the bivariate formula.
    mu, sd = (0.4, -0.3), (1.5, 2.0)
    args = (mu[0], sd[0] ** 2, mu[1], sd[1] ** 2, sign * sd[0] * sd[1])
    got = relu_pair_moment(*(torch.tensor(v, dtype=F64) for v in args)).item()
    ref, _ = integrate.quad(
        lambda u: (
            max(mu[0] + sd[0] * u, 0)
            * max(mu[1] + sign * sd[1] * u, 0)
            * math.exp(-0.5 * u * u)
            / math.sqrt(2 * math.pi)
        ),
        -12,
        12,
        points=[-mu[0] / sd[0], -sign * mu[1] / sd[1]],
        epsabs=1e-13,
        limit=200,
    )
    assert abs(got - ref) < 1e-10


@pytest.mark.parametrize("mu,var,c12", [((0.3, -0.2), (2.0, 1.5), 1.4), ((1.0, 0.5), (4.0, 1.0), -1.9)])
def test_pair_moment_matches_2d_quadrature(mu, var, c12):
    got = relu_pair_moment(*(torch.tensor(v, dtype=F64) for v in (mu[0], var[0], mu[1], var[1], c12)))
    assert abs(got.item() - pair_dblquad(mu, var, c12)) < 1e-7


# --------------------------------------------------------------------------------------------
# structure, limits, degenerate cases
# --------------------------------------------------------------------------------------------


def test_univariate_closed_forms_match_1d_quadrature():
    for mu, var in [(0.7, 2.0), (-1.5, 0.3), (0.0, 5.0)]:
        dist = stats.norm(mu, math.sqrt(var))
        m1, _ = integrate.quad(lambda x, d=dist: x * d.pdf(x), 0, np.inf, epsabs=1e-13)
        m2, _ = integrate.quad(lambda x, d=dist: x * x * d.pdf(x), 0, np.inf, epsabs=1e-13)
        mu_t, var_t = torch.tensor(mu, dtype=F64), torch.tensor(var, dtype=F64)
        assert abs(relu_mean(mu_t, var_t).item() - m1) < 1e-10
        assert abs(relu_second_moment(mu_t, var_t).item() - m2) < 1e-10


def test_symmetry_and_diagonal_consistency():
    mean, cov = MC_CASES["high_var_corr_M4"]
    got = relu_moments(mean, cov)
    assert torch.equal(got.e_phi_phi, got.e_phi_phi.transpose(-1, -2))
    # E[z_i φ(z_i)] = E[φ(z_i)²] (z φ(z) = φ(z)²), from two different formulas.
    assert torch.allclose(got.e_z_phi.diagonal(), got.e_phi_phi.diagonal(), atol=1e-12, rtol=0)
    # E[φφᵀ] − E[φ]E[φ]ᵀ is a covariance matrix: positive semi-definite.
    centred = got.e_phi_phi - torch.outer(got.e_phi, got.e_phi)
    assert torch.linalg.eigvalsh(centred).min() > -1e-10
    # The cross-moment functions with x = y reproduce relu_moments.
    var = cov.diagonal()
    assert torch.allclose(cross_phi_phi(mean, var, mean, var, cov), got.e_phi_phi, atol=1e-13, rtol=0)
    assert torch.allclose(cross_z_phi(mean, mean, cov, var), got.e_z_phi, atol=1e-13, rtol=0)


@pytest.mark.parametrize("scale", [0.0, 1e-30, 1e-12])
def test_vanishing_covariance_gives_point_mass(scale):
    mean = torch.tensor([1.2, -0.7, 0.0, 3.0], dtype=F64)
    cov = scale * random_cov(4, 1.0, 2)
    got = relu_moments(mean, cov)
    phi = mean.clamp(min=0)
    for t in got:
        assert torch.isfinite(t).all()
    assert torch.allclose(got.e_phi, phi, atol=1e-5, rtol=0)
    assert torch.allclose(got.e_phi_phi, torch.outer(phi, phi), atol=1e-5, rtol=0)
    assert torch.allclose(got.e_z_phi, torch.outer(mean, phi), atol=1e-5, rtol=0)
    if scale == 0.0:
        assert torch.equal(got.e_phi_phi, torch.outer(phi, phi))


def test_one_degenerate_unit_factorises():
    mean = torch.tensor([0.5, -0.2, 1.0], dtype=F64)
    cov = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]], dtype=F64)
    got = relu_moments(mean, cov)
    mean[1] = 0.8
    got2 = relu_moments(mean, cov)
    for t in (*got, *got2):
        assert torch.isfinite(t).all()
    assert torch.allclose(got.e_phi_phi[1], torch.zeros(3, dtype=F64))  # φ(−0.2) = 0
    assert torch.allclose(got2.e_phi_phi[1], 0.8 * got2.e_phi, atol=1e-15, rtol=0)
    assert torch.allclose(got2.e_phi_phi[1, 1], torch.tensor(0.64, dtype=F64))


def test_extreme_means():
    cov = random_cov(3, 4.0, 4)
    neg = relu_moments(torch.full((3,), -60.0, dtype=F64), cov)
    for t in neg:
        assert torch.isfinite(t).all() and t.abs().max() < 1e-12
    mean = torch.tensor([80.0, 60.0, 100.0], dtype=F64)
    pos = relu_moments(mean, cov)  # φ(z) = z almost surely
    assert torch.allclose(pos.e_phi, mean, rtol=1e-14, atol=0)
    assert torch.allclose(pos.e_phi_phi, torch.outer(mean, mean) + cov, rtol=1e-13, atol=0)
    assert torch.allclose(pos.e_z_phi, torch.outer(mean, mean) + cov, rtol=1e-13, atol=0)


def test_batch_shapes_broadcasting_and_chunking():
    g = torch.Generator().manual_seed(7)
    B, T, M = 3, 5, 6
    L = torch.randn(B, T, M, M, generator=g, dtype=F64)
    cov = L @ L.transpose(-1, -2) + 0.1 * torch.eye(M, dtype=F64)
    mean = torch.randn(B, T, M, generator=g, dtype=F64)
    full = relu_moments(mean, cov)
    tiny = relu_moments(mean, cov, chunk=7)  # many chunks of a few rows
    single = relu_moments(mean[1, 2], cov[1, 2])
    for a, b, c in zip(full, tiny, single, strict=True):
        assert torch.equal(a, b)
        assert torch.allclose(a[1, 2], c, atol=1e-14, rtol=0)
    assert full.e_phi.shape == (B, T, M) and full.e_phi_phi.shape == (B, T, M, M)
    shared = relu_moments(mean, cov[0, 0])  # one covariance for all time steps
    assert shared.e_z_phi.shape == (B, T, M, M)
    assert torch.allclose(shared.e_phi_phi[0, 0], full.e_phi_phi[0, 0], atol=1e-14, rtol=0)
    # Cross moments batched over (B, T−1): z_t against z_{t−1}.
    cxy = cov[:, 1:] * 0.5
    var = cov.diagonal(dim1=-2, dim2=-1)
    cpp = cross_phi_phi(mean[:, 1:], var[:, 1:], mean[:, :-1], var[:, :-1], cxy, chunk=10)
    assert cpp.shape == (B, T - 1, M, M)
    ref = relu_pair_moment(mean[:, 1:, :, None], var[:, 1:, :, None], mean[:, :-1, None, :], var[:, :-1, None, :], cxy)
    assert torch.allclose(cpp, ref, atol=1e-14, rtol=0)
    assert cross_z_phi(mean[:, 1:], mean[:, :-1], cxy, var[:, :-1]).shape == (B, T - 1, M, M)
    # float32 in, float32 out (computed in float64 internally).
    f32 = relu_moments(mean.float(), cov.float())
    assert f32.e_phi_phi.dtype == torch.float32
    assert torch.allclose(f32.e_phi_phi.double(), full.e_phi_phi, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------------------------
# the independence approximation is measurably wrong
# --------------------------------------------------------------------------------------------


def test_independence_approximation_is_off_where_exact_matches_mc():
    # Strongly correlated units with large posterior variance (σ² = 4, ρ = ±0.9).
    mean = torch.tensor([0.5, 0.0, -0.5], dtype=F64)
    cov = 4.0 * torch.tensor([[1.0, 0.9, -0.9], [0.9, 1.0, -0.8], [-0.9, -0.8, 1.0]], dtype=F64)
    z = mc_samples(mean, cov, 2 * N_MC, seed=13)
    est, se = mc_outer(z.clamp(min=0), z.clamp(min=0))
    exact = relu_moments(mean, cov).e_phi_phi
    approx = independent_relu_moments(mean, cov).e_phi_phi
    assert_within_se(exact, est, se, "exact e_phi_phi")
    rel_exact = ((exact - est) / est).abs()
    rel_indep = ((approx - est) / est).abs()
    # Positively correlated pair (0, 1): the approximation underestimates E[φ₀φ₁] by ~60 %.
    assert rel_indep[0, 1] > 0.5 and rel_exact[0, 1] < 0.01
    # Anticorrelated pair (0, 2): E[φ₀φ₂] is small and the approximation is several times too big.
    assert rel_indep[0, 2] > 1.0 and rel_exact[0, 2] < 0.05
    # The approximation's diagonal is exact (univariate), and so is its E[z φᵀ].
    assert torch.allclose(approx.diagonal(), exact.diagonal(), atol=1e-14, rtol=0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    mean, cov = MC_CASES["mixed_sign_rho_M4"]
    cpu = relu_moments(mean, cov)
    gpu = relu_moments(mean.cuda(), cov.cuda())
    for a, b in zip(cpu, gpu, strict=True):
        assert b.is_cuda
        assert torch.allclose(a, b.cpu(), atol=1e-13, rtol=0)
    h = torch.linspace(-4, 4, 17, dtype=F64)
    r = torch.tensor([-1.0, -0.99, -0.5, 0.0, 0.6, 0.95, 1.0], dtype=F64)[:, None]
    assert torch.allclose(
        bivariate_normal_cdf(h, -h, r), bivariate_normal_cdf(h.cuda(), -h.cuda(), r.cuda()).cpu(), atol=1e-14, rtol=0
    )


def _pair(mu1: float, v1: float, mu2: float, v2: float, c: float) -> float:
    return relu_pair_moment(*(torch.tensor(x, dtype=F64) for x in (mu1, v1, mu2, v2, c))).item()


def test_pair_moment_obeys_price_theorem():
    # Price's theorem: ∂E[φ(x)φ(y)]/∂Cov(x, y) = E[φ'(x)φ'(y)] = Φ₂(μ₁/σ₁, μ₂/σ₂; ρ): checks the
    # whole pair formula against Φ₂ by finite differences.
    mu1, mu2, v1, v2 = 0.4, -0.7, 2.0, 3.0
    sd = math.sqrt(v1 * v2)
    a1, a2 = mu1 / math.sqrt(v1), mu2 / math.sqrt(v2)
    step = 1e-5 * sd
    for rho in (-0.99, -0.6, 0.0, 0.5, 0.95, 0.999):
        fd = (_pair(mu1, v1, mu2, v2, rho * sd + step) - _pair(mu1, v1, mu2, v2, rho * sd - step)) / (2 * step)
        assert abs(fd - bivariate_normal_cdf(a1, a2, rho).item()) < 1e-7, rho


@pytest.mark.parametrize(
    "mu1,mu2,v1,v2,sign",
    [(0.4, 0.4, 2.0, 2.0, 1.0), (-1.1, 1.1, 3.0, 3.0, -1.0), (0.4, -0.7, 2.0, 3.0, 1.0), (0.4, -0.7, 2.0, 3.0, -1.0)],
)
def test_pair_moment_is_smooth_up_to_degenerate_rho(mu1, mu2, v1, v2, sign):
    # E[φφ] is Lipschitz in ρ (Price's theorem), but the formula's terms individually vary like
    # √(1−|ρ|); with a₂ = ρa₁ a naive (a₂ − ρa₁)/s loses eps/s to round-off (~1e−8 at 1−|ρ| = 1e−16).
    sd = math.sqrt(v1 * v2)
    end = _pair(mu1, v1, mu2, v2, sign * sd)
    slope_at_end = bivariate_normal_cdf(mu1 / math.sqrt(v1), mu2 / math.sqrt(v2), sign).item()
    for delta in (1e-15, 1e-13, 1e-11):
        change = end - _pair(mu1, v1, mu2, v2, sign * (1 - delta) * sd)
        expected = sign * delta * sd * slope_at_end
        # A few ulps of the O(1) values on top of the first-order change.
        assert abs(change - expected) < 0.05 * delta * sd + 1e-14, (delta, change, expected)
