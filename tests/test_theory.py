"""Mean-field theory of trained reservoirs (neurodyn.studies.reservoir_theory; Rivkind & Barak, PRL 2017).

Every reference here is independent of the quadrature being tested: Monte Carlo with its standard
error, closed forms, finite networks (dense eigenvalues of the Jacobian of Eq. 4) and RK4
simulations. Tolerances for the finite-N comparisons were measured first (6 seeds each):
|outlier − λ_out| ≤ 0.0074 (tanh, g = 0.5) and ≤ 0.0103 (ReLU, g = 1.1) at N = 2000, ≤ 0.018 and
≤ 0.028 at N = 500; the tests allow 0.02 at N = 2000 and 0.05 at N = 500.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math

import numpy as np
import pytest
import torch

from neurodyn.errors import ConfigError, NeurodynError
from neurodyn.studies.reservoir_theory.command import add_theory_commands
from neurodyn.studies.reservoir_theory.command import main as theory_main
from neurodyn.studies.reservoir_theory.mft import (
    NoFadingMemoryError,
    gaussian_expectation,
    mean_field,
    mean_field_targets,
    nyquist_unstable_count,
    rate_variance,
    solve_sigma2,
)
from neurodyn.studies.reservoir_theory.reservoir import Reservoir, eigenvalues, make_nonlinearity

N_MC = 400_000
TANH = make_nonlinearity("tanh")
RELU = make_nonlinearity("relu", 0.1)


def _openblas_thread_controls() -> list:
    """(get, set) num-threads functions of every OpenBLAS loaded in this process (ctypes)."""
    import ctypes

    try:
        with open("/proc/self/maps") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line and line.split()[-1].startswith("/")}
    except OSError:
        return []
    controls = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (
            ("scipy_openblas_", "64_"),
            ("scipy_openblas_", ""),
            ("openblas_", "64_"),
            ("openblas_", ""),
        ):
            get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
            if get is not None and put is not None:
                controls.append((get, put))
                break
    return controls


@pytest.fixture(scope="module", autouse=True)
def _one_cpu_thread():
    """The test machine's 2 cores are shared with other jobs: OpenBLAS worker threads spinning
    beside the main thread made this module ~3× slower, so it runs with one BLAS and one torch
    thread (restored afterwards)."""
    controls = _openblas_thread_controls()
    saved = [get() for get, _ in controls]
    saved_torch = torch.get_num_threads()
    for _, put in controls:
        put(1)
    torch.set_num_threads(1)
    yield
    for (_, put), n in zip(controls, saved):
        put(n)
    torch.set_num_threads(saved_torch)


def mc_mean(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


# --------------------------------------------------------------------------------------------
# quadrature against Monte Carlo
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("phi", [TANH, RELU], ids=["tanh", "relu"])
@pytest.mark.parametrize("mean,var", [(0.0, 1.0), (0.7, 0.3), (-0.4, 2.5)])
def test_gaussian_expectations_match_monte_carlo(phi, mean, var):
    rng = np.random.default_rng(1)
    x = mean + math.sqrt(var) * rng.standard_normal(N_MC)
    funcs = {
        "phi": phi,
        "dphi": phi.derivative,
        "phi2": lambda v: phi(v) ** 2,
        "phi_dphi_x": lambda v: phi(v) * phi.derivative(v) * v,
    }
    for name, f in funcs.items():
        quad = gaussian_expectation(f, mean, var, breakpoints=phi.breakpoints)
        mc, se = mc_mean(f(x))
        assert abs(quad - mc) < 4 * se + 1e-12, (name, quad, mc, se)


def test_split_rule_is_exact_for_relu_closed_forms_where_plain_hermite_is_not():
    """⟨φ'⟩ = P(x > θ) and ⟨φ²⟩ of a thresholded ReLU have closed forms; the kink-splitting rule
    reproduces them to 1e-12, Gauss–Hermite without the split misses ⟨φ'⟩ by more than 1e-2."""
    from scipy.stats import norm

    mean, var, th = 0.0, 2.0, 0.1
    s = math.sqrt(var)
    a = (th - mean) / s
    p_exact = norm.sf(a)
    e2_exact = ((mean - th) ** 2 + var) * norm.sf(a) + (mean - th) * s * norm.pdf(a)
    assert gaussian_expectation(RELU.derivative, mean, var, breakpoints=RELU.breakpoints) == pytest.approx(
        p_exact, abs=1e-12
    )
    assert gaussian_expectation(lambda v: RELU(v) ** 2, mean, var, breakpoints=RELU.breakpoints) == pytest.approx(
        e2_exact, abs=1e-12
    )
    assert abs(gaussian_expectation(RELU.derivative, mean, var, n=101) - p_exact) > 1e-2


@pytest.mark.parametrize("fb", ["uniform", "normal"])
@pytest.mark.parametrize("phi", [TANH, RELU], ids=["tanh", "relu"])
def test_eq8_rhs_and_betas_match_monte_carlo(phi, fb):
    """The 2-D integrals over the feedback weight w and y (Eqs. 8, 11) against Monte Carlo."""
    g, A = 1.1, 0.8
    mf = mean_field(phi, g, A, fb=fb)
    rng = np.random.default_rng(2)
    w = rng.uniform(-1, 1, N_MC) if fb == "uniform" else rng.standard_normal(N_MC)
    y = rng.standard_normal(N_MC)
    sigma = math.sqrt(mf.sigma2)
    x = w * A + sigma * y
    r, rp = phi(x), phi.derivative(x)
    mc, se = mc_mean(g * g * r**2)
    assert abs(rate_variance(phi, g, A, mf.sigma2, fb=fb) - mc) < 4 * se
    assert abs(mf.sigma2 - mc) < 4 * se  # self-consistency, Eq. 8
    for value, samples in (
        (mf.beta0, g * g / mf.sigma2 * r * rp * w),
        (mf.beta1, g * g / mf.sigma2 * r * rp * sigma * y),
        (mf.rho**2, g * g * rp**2),
    ):
        mc, se = mc_mean(samples)
        assert abs(value - mc) < 4 * se


def test_sigma2_agrees_with_a_finite_network():
    """σ² of Eq. 8 is the variance of x̄¹ = x̄ − w_FB A in a large network (N = 2000: ±5%)."""
    mf = mean_field("tanh", 0.5, 1.0)
    net = Reservoir.random(2000, 0.5, "tanh", seed=3)
    x = net.open_loop_fixed_point(1.0)
    assert np.var(x - net.w_fb) == pytest.approx(mf.sigma2, rel=0.1)


# --------------------------------------------------------------------------------------------
# the sign of λ_out (Eqs. 14–15)
# --------------------------------------------------------------------------------------------


def test_tanh_fixed_points_are_stable_and_relu_unstable_over_a_sweep():
    n_tanh = n_relu = 0
    for g in (0.3, 0.6, 0.9, 1.2, 1.5):
        for A in (0.25, 0.5, 1.0, 2.0, -1.5):
            try:
                mf = mean_field("tanh", g, A)
            except NoFadingMemoryError:
                continue
            n_tanh += 1
            assert mf.lambda_out < 0 and mf.stable, (g, A, mf.lambda_out)
            assert mf.lambda_out == pytest.approx(mf.lambda_out_eq15, abs=1e-9)  # Eq. 14 = Eq. 15
            assert (mf.dc_gain < 1) == mf.stable
    for g in (0.5, 0.8, 1.1, 1.3, 1.4):
        for A in (0.6, 1.0, 2.0):  # |A| > θ: with w ~ U(−1, 1) some neuron is active
            for th in (0.1, 0.5):
                mf = mean_field("relu", g, A, threshold=th)
                n_relu += 1
                assert mf.lambda_out > 0 and not mf.stable, (g, A, th, mf.lambda_out)
                assert mf.lambda_out == pytest.approx(mf.lambda_out_eq15, abs=1e-9)
    assert n_tanh >= 20 and n_relu == 30


def test_relu_without_threshold_is_marginal():
    """θ = 0: φ = xφ', so the integrand of Eq. 15 vanishes and λ_out = 0."""
    assert mean_field("relu", 1.1, 1.0, threshold=0.0).lambda_out == pytest.approx(0.0, abs=1e-12)


def test_no_finite_sigma2_for_relu_above_sqrt2():
    mean_field("relu", 1.41, 1.0)  # still a finite σ² just below √2
    for g in (1.42, 2.0, 3.0):
        with pytest.raises(NoFadingMemoryError, match="no finite self-consistent sigma"):
            solve_sigma2("relu", g, 1.0)
    assert issubclass(NoFadingMemoryError, NeurodynError)
    with pytest.raises(NoFadingMemoryError, match="rho"):
        mean_field("tanh", 3.0, 1.0)  # a finite σ², but the driven open loop is chaotic (ρ > 1)
    with pytest.raises(ConfigError):
        mean_field("tanh", 1.0, 0.0)
    with pytest.raises(ConfigError, match="at zero"):
        mean_field("relu", 1.0, 0.25, threshold=0.5)  # |wA| < θ for every w ~ U(−1, 1): no active neuron


def test_tau_out_stays_finite_while_tau_net_diverges_at_the_edge_of_chaos():
    """tanh, A = 1: as g → g_c (ρ → 1) τ_net = 1/(1 − ρ) grows without bound, τ_out = −1/λ_out
    settles near 1.6 (g_c ≈ 1.614 for w_FB ~ U(−1, 1))."""
    from scipy.optimize import brentq

    g_c = brentq(lambda g: mean_field("tanh", g, 1.0, require_fading_memory=False).rho - 1.0, 1.2, 2.5, xtol=1e-12)
    rows = [mean_field("tanh", g_c - eps, 1.0) for eps in (0.3, 0.1, 0.03, 0.01, 0.001)]
    tau_net = [m.tau_net for m in rows]
    tau_out = [m.tau_out for m in rows]
    assert all(b > 2.5 * a for a, b in itertools.pairwise(tau_net))  # diverging
    assert tau_net[-1] > 1000
    assert all(1.5 < t < 2.0 for t in tau_out)  # finite, nearly constant
    assert max(tau_out) - min(tau_out) < 0.3
    with pytest.raises(NoFadingMemoryError):
        mean_field("tanh", g_c + 0.01, 1.0)


# --------------------------------------------------------------------------------------------
# finite networks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phi,g,n_units,tol",
    [("tanh", 0.5, 2000, 0.02), ("relu", 1.1, 2000, 0.02), ("tanh", 0.5, 500, 0.05), ("relu", 1.1, 500, 0.05)],
)
def test_mft_pole_matches_the_finite_network_outlier(phi, g, n_units, tol):
    mf = mean_field(phi, g, 1.0)
    net = Reservoir.random(n_units, g, phi, seed=0).train([1.0])
    assert net.readout_error() < 1e-9
    out = net.outlier(0)
    assert out is not None and abs(out.imag) < 1e-9
    assert abs(out.real - mf.lambda_out) < tol, (out, mf.lambda_out)
    assert net.is_stable(0) == mf.stable
    assert net.bulk_radius(0) == pytest.approx(mf.rho, abs=0.05)


def test_outlier_hidden_in_the_bulk_for_fig1a():
    """Fig. 1A (tanh, g = 1.5): |λ_out + 1| < ρ, the outlier lies inside the disk and cannot be
    read off the spectrum; the finite network is nevertheless stable."""
    mf = mean_field("tanh", 1.5, 1.0)
    assert abs(mf.lambda_out + 1) < mf.rho and mf.tau_net > mf.tau_out
    net = Reservoir.random(500, 1.5, "tanh", seed=0).train([1.0])
    assert net.outlier(0) is None and net.is_stable(0)


def test_finite_open_loop_gain_converges_to_eq13():
    mf = mean_field("tanh", 0.5, 1.0)
    net = Reservoir.random(1000, 0.5, "tanh", seed=0).train([1.0])
    omega = np.linspace(-3, 3, 61)
    theory = mf.open_loop_gain(omega)
    err = np.max(np.abs(net.open_loop_gain(0, omega) - theory)) / np.max(np.abs(theory))
    assert err < 0.05


def test_simulated_perturbations_decay_for_tanh_and_grow_for_relu():
    for phi, g, stable in (("tanh", 0.5, True), ("relu", 1.1, False)):
        net = Reservoir.random(300, g, phi, seed=4).train([1.0])
        assert net.is_stable(0) == stable
        kick = 1e-3 * np.random.default_rng(0).standard_normal(net.n_units)
        _t, z = net.simulate(net.x[0] + kick, t_max=40.0, dt=0.1)
        dev = np.abs(z - 1.0)
        if stable:
            assert dev[-1] < 1e-3 * max(dev[0], 1e-6) + 1e-9
        else:
            assert dev[-1] > 20 * dev[0]


def test_torch_eigenvalues_match_numpy():
    J = Reservoir.random(150, 0.8, "tanh", seed=5).train([0.7]).jacobian(0)
    a = np.sort_complex(eigenvalues(J))
    b = np.sort_complex(eigenvalues(J, device="cpu"))
    assert np.max(np.abs(a - b)) < 1e-8


@pytest.mark.gpu
def test_cuda_eigenvalues_match_numpy():
    J = Reservoir.random(500, 0.8, "tanh", seed=5).train([0.7]).jacobian(0)
    assert np.max(np.abs(np.sort_complex(eigenvalues(J)) - np.sort_complex(eigenvalues(J, device="cuda")))) < 1e-8


# --------------------------------------------------------------------------------------------
# M targets (Eqs. 16–18)
# --------------------------------------------------------------------------------------------


def test_one_target_of_the_multi_target_theory_is_eq14():
    mf = mean_field("tanh", 1.0, 0.8)
    loc = mean_field_targets("tanh", 1.0, [0.8]).local(0)
    assert loc.poles[0].real == pytest.approx(mf.lambda_out, abs=1e-12)
    omega = np.linspace(-2, 2, 9)
    assert np.allclose(loc.open_loop_gain(omega), mf.open_loop_gain(omega), atol=1e-12)


def test_cross_terms_have_the_form_of_eq18_and_stein():
    mt = mean_field_targets("tanh", 0.9, [0.5, 1.0, 1.5])
    omega = np.linspace(-3, 3, 13)
    for n in range(3):
        loc = mt.local(n)
        assert np.allclose(loc.cross_gains(omega), loc.cross_gains_eq18(omega), atol=1e-12)
        for m in range(3):
            if m == n:
                continue
            # by Stein's lemma D_mm = g²⟨φ'(x̄_m) φ'(x̄_n)⟩ (< ρ_m ρ_n < 1: stable open-loop poles)
            stein = mt.g**2 * mt.pair_expectation(
                n, m, lambda w, xn, xm, bn, bm: TANH.derivative(xn) * TANH.derivative(xm)
            )
            assert loc.D[m, m] == pytest.approx(stein, abs=1e-7)
            assert loc.D[m, m] < mt.singles[m].rho * mt.singles[n].rho


def test_cross_covariance_matches_monte_carlo():
    mt = mean_field_targets("relu", 1.1, [0.5, 1.5])
    rng = np.random.default_rng(6)
    w = rng.uniform(-1, 1, N_MC)
    xb = rng.standard_normal((N_MC, 2)) @ np.linalg.cholesky(mt.Sigma).T
    prod = RELU(w * 0.5 + xb[:, 0]) * RELU(w * 1.5 + xb[:, 1])
    mc, se = mc_mean(mt.g**2 * prod)
    assert abs(mt.Sigma[0, 1] - mc) < 4 * se


@pytest.mark.parametrize(
    "phi,g,targets,fb",
    [
        ("tanh", 1.0, [0.5, 1.0, 1.5], "uniform"),  # Fig. 1D: an unstable oscillatory pair at A₁
        ("tanh", 0.9, [0.5, 1.0, 1.5], "uniform"),  # Fig. 2
        ("tanh", 1.0, [0.5, 1.0, 1.5], "normal"),
        ("relu", 1.1, [0.5, 1.0, 1.5], "uniform"),
        ("tanh", 1.2, [-1.0, 0.5, 1.0, 2.0], "uniform"),  # ±1 give proportional rates (singular C)
    ],
)
def test_all_poles_and_nyquist_criteria_agree(phi, g, targets, fb):
    mt = mean_field_targets(phi, g, targets, fb=fb)
    verdicts = set()
    for n in range(len(targets)):
        loc = mt.local(n)
        n_rhp = int(np.sum(loc.poles.real > 0))
        assert np.all(loc.open_loop_poles.real < 0)
        assert loc.nyquist_unstable() == n_rhp
        assert loc.nyquist_stable == loc.stable
        verdicts.add(loc.stable)
    assert verdicts == {True, False}  # each case mixes stable and unstable fixed points


def test_nyquist_counts_for_simple_rational_gains():
    for pole_pair, dc, expected in (((-0.1, 0.3), 0.5, 0), ((-0.5, 0.2), 1.5, 1)):
        p1 = complex(*pole_pair)
        p2 = p1.conjugate()

        def gain(omega, p1=p1, p2=p2, dc=dc):
            s = 1j * np.asarray(omega)
            return dc * p1 * p2 / ((s - p1) * (s - p2))

        # closed-loop poles: roots of (s − p1)(s − p2) − dc p1 p2
        roots = np.roots([1, -(p1 + p2), p1 * p2 * (1 - dc)])
        assert nyquist_unstable_count(gain) == int(np.sum(roots.real > 0)) == expected


def test_literal_point_i_is_never_encircled_for_one_target():
    """The paper's text names 0 + 1i; for M = 1 G_OL traces a circle on the real diameter
    [0, G_OL(0)], which never surrounds i, so the positive-feedback critical point 1 + 0i (Eq. 7)
    is the one that decides stability."""
    mf = mean_field("relu", 1.1, 1.0)
    assert nyquist_unstable_count(mf.open_loop_gain) == 1
    assert nyquist_unstable_count(mf.open_loop_gain, critical=1j) == 0


def test_fig1d_dc_gain_below_one_yet_unstable():
    """Fig. 1D: around A₁ = 0.5 (tanh, g = 1) G_OL(0) < 1 but a complex pair is unstable."""
    loc = mean_field_targets("tanh", 1.0, [0.5, 1.0, 1.5]).local(0)
    assert loc.open_loop_gain(0.0)[0].real < 1
    top = loc.poles[0]
    assert top.real > 0 and abs(top.imag) > 0.1 and not loc.stable


def test_fig2_resonance_at_the_lower_attractor_only():
    """Fig. 2 (g = 0.9): A₁ and A₃ stable, A₂ unstable; |G_CL| peaks at ω₀ ∈ [0.1, 0.5] around A₁
    (a lightly damped complex pair), monotone around A₃."""
    mt = mean_field_targets("tanh", 0.9, [0.5, 1.0, 1.5])
    low, mid, high = (mt.local(n) for n in range(3))
    assert low.stable and high.stable and not mid.stable
    w0, peak, dc = low.resonance()
    assert 0.1 <= w0 <= 0.5 and peak > 5 * dc
    assert abs(low.poles[0].imag) == pytest.approx(w0, abs=0.02)
    w0_high, peak_high, dc_high = high.resonance()
    assert w0_high == 0.0 and peak_high == pytest.approx(dc_high)
    assert np.all(np.abs(high.poles.imag) < 1e-12)


def test_multi_target_poles_match_a_finite_network():
    """N = 1000, g = 0.9: the finite closed-loop outliers around each attractor lie within 0.05 of
    the MFT poles that are outside the bulk (measured deviations ≤ 0.03 over 2 seeds × N ∈ {1000, 2000})."""
    targets = [0.5, 1.0, 1.5]
    mt = mean_field_targets("tanh", 0.9, targets)
    net = Reservoir.random(1000, 0.9, "tanh", seed=0).train(targets)
    assert net.readout_error() < 1e-9
    for n in range(3):
        loc = mt.local(n)
        predicted = loc.poles[np.abs(loc.poles + 1) > 1.15 * loc.rho]
        measured = net.outliers(n)
        assert measured.size == predicted.size >= 1
        for p in predicted:
            assert np.min(np.abs(measured - p)) < 0.05, (n, p, measured)
    assert not net.is_stable(1) and net.is_stable(2)
    assert abs(net.outliers(0)[0].imag) > 0.1 and np.all(np.abs(net.outliers(2).imag) < 1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_mft_poles_at_n2000_slow(seed):
    for phi, g in (("tanh", 0.5), ("relu", 1.1)):
        mf = mean_field(phi, g, 1.0)
        out = Reservoir.random(2000, g, phi, seed=seed).train([1.0]).outlier(0)
        assert abs(out.real - mf.lambda_out) < 0.02
    targets = [0.5, 1.0, 1.5]
    mt = mean_field_targets("tanh", 0.9, targets)
    net = Reservoir.random(2000, 0.9, "tanh", seed=seed).train(targets)
    for n in range(3):
        loc = mt.local(n)
        for p in loc.poles[np.abs(loc.poles + 1) > 1.15 * loc.rho]:
            assert np.min(np.abs(net.outliers(n) - p)) < 0.05


# --------------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurodyn")
    sub = parser.add_subparsers(dest="command", required=True)
    add_theory_commands(sub)
    return parser


def test_cli_one_target(capsys):
    args = _parser().parse_args(
        ["theory", "mft", "--phi", "relu", "--threshold", "0.1", "--g", "1.1", "--amplitude", "1"]
    )
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("sigma2", "beta0", "beta1", "lambda_out", "stable", "rho", "tau_out", "tau_net"):
        assert key in out
    assert out["stable"] is False and out["nyquist_stable"] is False
    assert out["lambda_out"] == pytest.approx(mean_field("relu", 1.1, 1.0).lambda_out)


def test_cli_targets(capsys):
    args = _parser().parse_args(["theory", "mft", "--phi", "tanh", "--g", "1.0", "--targets", "0.5,1.0,1.5"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["M"] == 3 and len(out["poles"]) == 3 and len(out["poles"][0]) == 3
    assert all(len(p) == 2 for p in out["poles"][0])
    assert out["stable"] == out["nyquist_stable"] == [False, False, True]
    assert out["poles"][0][0][0] > 0 and abs(out["poles"][0][0][1]) > 0.1


def test_cli_no_fading_memory_is_one_line_and_nonzero(capsys):
    args = _parser().parse_args(["theory", "mft", "--phi", "relu", "--g", "1.6", "--amplitude", "1"])
    with pytest.raises(NeurodynError) as err:
        args.func(args)
    assert "\n" not in str(err.value) and "fading memory" in str(err.value)
    capsys.readouterr()
    assert theory_main(["mft", "--phi", "relu", "--g", "1.6", "--amplitude", "1"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurodyn: error: ") and "sigma^2" in lines[0]


def test_cli_rejects_bad_arguments(capsys):
    parser = _parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["theory", "mft", "--g", "1.0"])  # neither --amplitude nor --targets
    with pytest.raises(SystemExit):
        parser.parse_args(["theory", "mft", "--g", "1.0", "--targets", "0.5,x"])
    capsys.readouterr()
    assert theory_main(["mft", "--g", "-1", "--amplitude", "1"]) == 1
    assert theory_main(["mft", "--g", "1", "--targets", "0.5,0.5"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("neurodyn: error: config ") for line in err)
