"""State-space divergence D_stsp = KL(p_true || p_gen), by histograms or Gaussian mixtures
(Koppe et al., 2019, PLOS Comput Biol; Mikhaeil et al., 2022, NeurIPS; protocol of Pals et al., 2024, NeurIPS)."""

from __future__ import annotations

import math

import numpy as np

from neurodyn.analysis.metrics._checks import (
    as_float_array,
    check_finite,
    check_ndim,
    check_positive,
    check_positive_int,
)
from neurodyn.errors import NeurodynError

# Below this many dimensions the state-space KL uses histograms, from here on Gaussian mixtures
# (a 30-bin grid in 6 dimensions has 7e8 cells, far more than any recording has time steps).
GMM_MIN_DIM = 6

# Element budget for one block of the (sample, component) distance matrix in the GMM estimate.
_GMM_BLOCK_ELEMENTS = 1 << 24


def _as_trajectory(name: str, value: object) -> np.ndarray:
    """Validate a trajectory and flatten trials into time.

    value: (time, dim) or (trial, time, dim) -> (time', dim).
    """
    array = as_float_array(name, value)
    check_ndim(name, array, (2, 3), "(time, dim) or (trial, time, dim)")
    check_finite(name, array)
    return array.reshape(-1, array.shape[-1])


def _histogram_box(x_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid's box, (lower, upper) (dim,) each: x_true's range widened by 0.1 s.d. per side."""
    spread = x_true.std(axis=0)
    return x_true.min(axis=0) - 0.1 * spread, x_true.max(axis=0) + 0.1 * spread


def _inside(points: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """points (n, dim) -> (n,) bool: inside the closed box [lower, upper]."""
    return np.all((points >= lower) & (points <= upper), axis=1)


def _histogram_kl(x_true: np.ndarray, x_gen: np.ndarray, n_bins: int, alpha: float) -> float:
    """KL(p_true || p_gen) between Laplace-smoothed histograms on a grid spanned by x_true.

    x_true: (time, dim); x_gen: (time', dim) -> KL in nats.

    Only occupied cells are counted explicitly (flattened cell index, np.unique, np.bincount);
    the cells empty in both histograms all carry the same smoothed probabilities, so their
    total contribution is added in closed form instead of allocating n_bins**dim cells.
    """
    n_dims = x_true.shape[1]
    n_cells = n_bins**n_dims  # Python int: exact
    if n_cells >= 2**62:
        raise NeurodynError(f"n_bins: {n_bins}**{n_dims} grid cells overflow a 64-bit index")

    lower, upper = _histogram_box(x_true)
    width = (upper - lower) / n_bins

    def cell_index(points: np.ndarray) -> np.ndarray:
        """points: (n, dim) -> (m,) flattened cell index of the points inside the grid."""
        points = points[_inside(points, lower, upper)]
        # A dimension in which x_true is constant has zero width: its only cell is index 0.
        safe_width = np.where(width > 0, width, 1.0)
        per_dim = np.floor((points - lower) / safe_width).astype(np.int64)
        # The upper edge belongs to the last bin (as in numpy.histogram).
        per_dim = np.clip(per_dim, 0, n_bins - 1)
        strides = n_bins ** np.arange(n_dims - 1, -1, -1, dtype=np.int64)
        return per_dim @ strides

    true_cells = cell_index(x_true)
    gen_cells = cell_index(x_gen)
    occupied, compact = np.unique(np.concatenate([true_cells, gen_cells]), return_inverse=True)
    true_counts = np.bincount(compact[: true_cells.size], minlength=occupied.size)
    gen_counts = np.bincount(compact[true_cells.size :], minlength=occupied.size)

    true_total = true_cells.size + alpha * n_cells
    gen_total = gen_cells.size + alpha * n_cells
    p_true = (true_counts + alpha) / true_total
    p_gen = (gen_counts + alpha) / gen_total
    kl_occupied = float(np.sum(p_true * np.log(p_true / p_gen)))
    n_empty = n_cells - occupied.size
    kl_empty = n_empty * (alpha / true_total) * math.log(gen_total / true_total)
    return kl_occupied + kl_empty


def _subsample_rows(points: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Random subset of at most ``max_rows`` rows, kept in time order.

    points: (time, dim) -> (min(time, max_rows), dim).

    A random rather than an evenly strided subset avoids aliasing with periodic trajectories.
    """
    if points.shape[0] <= max_rows:
        return points
    keep = np.sort(rng.choice(points.shape[0], size=max_rows, replace=False))
    return points[keep]


def _gmm_log_density(samples, centres, sigma: float):
    """Log density of an equal-weight isotropic Gaussian mixture, evaluated in blocks.

    samples: (sample, dim) torch tensor; centres: (component, dim) torch tensor
    -> (sample,) torch tensor of log p(sample).
    """
    import torch

    n_components, n_dims = centres.shape
    log_normaliser = math.log(n_components) + 0.5 * n_dims * math.log(2.0 * math.pi * sigma**2)
    centre_sq_norms = (centres**2).sum(dim=1)
    block = max(1, _GMM_BLOCK_ELEMENTS // n_components)
    log_densities = []
    for start in range(0, samples.shape[0], block):
        chunk = samples[start : start + block]
        sq_dist = (chunk**2).sum(dim=1, keepdim=True) + centre_sq_norms - 2.0 * chunk @ centres.T
        # The expanded form can dip slightly below 0 through rounding.
        sq_dist = sq_dist.clamp_min(0.0)
        log_densities.append(torch.logsumexp(-0.5 * sq_dist / sigma**2, dim=1) - log_normaliser)
    return torch.cat(log_densities)


def _gmm_kl(x_true: np.ndarray, x_gen: np.ndarray, sigma: float, n_mc: int, max_steps: int, seed: int) -> float:
    """Monte Carlo KL(p_true || p_gen) between Gaussian mixtures centred on the time steps.

    x_true: (time, dim); x_gen: (time', dim) -> KL estimate in nats.

    Subsampling and Monte Carlo draws use numpy's seeded generator so that the estimate is
    identical on CPU and GPU; only the density evaluation runs in torch.
    """
    # torch is imported here so that the cheap metrics do not pay for importing it.
    import torch

    rng = np.random.default_rng(seed)
    true_centres = _subsample_rows(x_true, max_steps, rng)
    gen_centres = _subsample_rows(x_gen, max_steps, rng)
    chosen = rng.integers(0, true_centres.shape[0], size=n_mc)
    samples = true_centres[chosen] + sigma * rng.standard_normal((n_mc, x_true.shape[1]))

    # Centring on the data keeps the expanded squared distances free of cancellation error.
    origin = true_centres.mean(axis=0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def to_tensor(array: np.ndarray):
        return torch.as_tensor(array - origin, dtype=torch.float64, device=device)

    with torch.no_grad():
        samples_t = to_tensor(samples)
        log_ratio = _gmm_log_density(samples_t, to_tensor(true_centres), sigma) - _gmm_log_density(
            samples_t, to_tensor(gen_centres), sigma
        )
        return float(log_ratio.mean().item())


def state_space_divergence(
    x_true: np.ndarray,
    x_gen: np.ndarray,
    *,
    n_bins: int = 30,
    alpha: float = 1e-5,
    gmm_sigma: float = 1.0,
    n_mc: int = 1000,
    max_steps: int = 10_000,
    seed: int = 0,
) -> float:
    """State-space divergence D_stsp = KL(p_true || p_gen) between state distributions.

    Koppe et al., 2019, PLOS Comput Biol; Mikhaeil et al., 2022, NeurIPS; protocol as used by
    Pals et al., 2024, NeurIPS.

    * dim < 6: histograms with ``n_bins`` bins per dimension over
      ``[min - 0.1 std, max + 0.1 std]`` of ``x_true`` in each dimension; generated points
      outside that box are dropped; ``p = (count + alpha) / sum(count + alpha)`` for both;
      ``KL = sum(p_true log(p_true / p_gen))``.
    * dim >= 6: each distribution is an equal-weight mixture of isotropic Gaussians with std
      ``gmm_sigma`` centred on its time steps (each subsampled at random to at most
      ``max_steps``); ``n_mc`` samples are drawn from ``p_true`` and the KL estimated as the
      mean of ``log p_true(s) - log p_gen(s)``.

    Args:
        x_true: (time, dim) or (trial, time, dim) reference trajectory (trials are flattened).
        x_gen: (time', dim) or (trial', time', dim) generated trajectory, same dim.
        n_bins: histogram bins per dimension (dim < 6).
        alpha: pseudo-count added to every histogram cell (dim < 6).
        gmm_sigma: std of each mixture component (dim >= 6).
        n_mc: Monte Carlo samples drawn from p_true (dim >= 6).
        max_steps: most time steps used as mixture centres per distribution (dim >= 6).
        seed: seed for subsampling and Monte Carlo draws (dim >= 6).

    Returns:
        KL(p_true || p_gen) in nats (>= 0 for histograms; the Monte Carlo estimate can be
        slightly negative when the two distributions nearly coincide).
    """
    x_true = _as_trajectory("x_true", x_true)
    x_gen = _as_trajectory("x_gen", x_gen)
    if x_gen.shape[1] != x_true.shape[1]:
        raise NeurodynError(f"x_gen: has {x_gen.shape[1]} dimensions but x_true has {x_true.shape[1]}")
    if x_true.shape[1] < GMM_MIN_DIM:
        n_bins = check_positive_int("n_bins", n_bins)
        alpha = check_positive("alpha", alpha)
        return _histogram_kl(x_true, x_gen, n_bins, alpha)
    gmm_sigma = check_positive("gmm_sigma", gmm_sigma)
    n_mc = check_positive_int("n_mc", n_mc)
    max_steps = check_positive_int("max_steps", max_steps)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise NeurodynError(f"seed: must be a non-negative integer, got {seed!r}")
    return _gmm_kl(x_true, x_gen, gmm_sigma, n_mc, max_steps, int(seed))


def state_space_coverage(x_true: np.ndarray, x_gen: np.ndarray) -> float | None:
    """Fraction of the generated steps inside the box the D_stsp histograms span.

    The binned :func:`state_space_divergence` (below 6 dimensions) drops generated points outside
    ``[min - 0.1 std, max + 0.1 std]`` of ``x_true`` per dimension. A generated trajectory that
    never enters that box therefore scores the divergence of a uniform histogram, which can be
    lower than that of a trajectory with the right geometry; this number says when that happened.

    Args:
        x_true: (time, dim) or (trial, time, dim) reference trajectory.
        x_gen: (time', dim) or (trial', time', dim) generated trajectory, same dim.

    Returns:
        The fraction in [0, 1], or None from 6 dimensions on (the Gaussian-mixture estimate has
        no box).
    """
    x_true = _as_trajectory("x_true", x_true)
    x_gen = _as_trajectory("x_gen", x_gen)
    if x_gen.shape[1] != x_true.shape[1]:
        raise NeurodynError(f"x_gen: has {x_gen.shape[1]} dimensions but x_true has {x_true.shape[1]}")
    if x_true.shape[1] >= GMM_MIN_DIM:
        return None
    if x_gen.shape[0] == 0:
        raise NeurodynError("x_gen: has no time steps")
    return float(_inside(x_gen, *_histogram_box(x_true)).mean())
