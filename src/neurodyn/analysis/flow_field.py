"""The flow field of a latent map z_{t+1} = F(z_t) on a lattice around the states it visits.

For a discrete-time map the "flow" at z is the one-step displacement F(z) − z (zero at the fixed
points, the phase portrait of e.g. Strogatz, *Nonlinear Dynamics and Chaos*, 2nd ed., ch. 6, for
the map's increments). :func:`flow_field` evaluates it for maps of one to three latent
dimensions: on an interval (1-D), on a lattice over the plane (2-D), or on a plane section of a
3-D state space (3-D). The result is plain arrays for ``arrays.zarr`` and the report's flow-field
figure.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

# fewer finite visited states than this give no range to draw the flow over
MIN_VISITED = 2
# half-width of the window (latent units) around a set of visited states with no spread
DEGENERATE_HALF_WIDTH = 1.0
# no side of the window is narrower than this fraction of its widest side (an equal-aspect plot
# of a very elongated cloud would otherwise be a strip)
MIN_SIDE_RATIO = 0.5


def flow_field(
    step: Callable[[torch.Tensor], torch.Tensor],
    visited: np.ndarray,
    *,
    grid: int = 25,
    widen: float = 0.15,
) -> dict[str, np.ndarray]:
    """The one-step displacement F(z) − z of a latent map on a lattice around its visited states.

    step: the map F at zero input, called once, under ``torch.no_grad()``, with a float64 CPU
    tensor (P, L) of lattice states and returning (P, L) next states (e.g. ``lambda z:
    dynamics.step(z.to(dtype), None)`` for a :class:`~neurodyn.models.base.Dynamics` whose
    weights are ``dtype``; the result is read back as float64 on the CPU);
    visited: (..., L) states the model visits (e.g. posterior latents (trial, time, L)); rows with
    a non-finite entry are ignored; grid: lattice points per axis (≥ 2); widen: the window is the
    range of the visited states widened by this fraction of its extent on each side (and no side
    narrower than :data:`MIN_SIDE_RATIO` of the widest).

    The lattice lives in a plane (a line for L = 1) with coordinates (x, y): a state on it is
    z = ``flow_centre`` + ``flow_basis`` @ (x, y).

    * L = 1: x runs over the widened range of the visited states at grid² points (as many as a
      2-D lattice: a line is drawn as a curve); ``flow_u`` is Δz = F(z) − z.
    * L = 2: a grid × grid lattice over the widened bounding box of the visited states, in the
      latent coordinates themselves (basis = identity, centre = 0); (``flow_u``, ``flow_v``) =
      F(z) − z.
    * L = 3: the plane through the mean of the visited states spanned by their top two principal
      components. (``flow_u``, ``flow_v``) is F(z) − z at the lattice points of that plane
      projected onto it, and ``flow_w`` is the component normal to it. This is a **section**:
      trajectories leave the plane wherever ``flow_w`` ≠ 0, so streamlines of (u, v) are not
      orbits of the map and zeros of (u, v) are not fixed points unless w = 0 there too.

    Returns, with X = Y = ``grid`` (X = grid² for L = 1), an empty dict for L > 3 or fewer than
    :data:`MIN_VISITED` finite visited states, else:

    * ``flow_x`` (X,) — lattice coordinates along the first axis (latent units);
    * ``flow_y`` (Y,) — along the second axis (absent for L = 1);
    * ``flow_u`` (Y, X) — displacement along the first axis ((X,) for L = 1);
    * ``flow_v`` (Y, X) — displacement along the second axis (absent for L = 1);
    * ``flow_w`` (Y, X) — displacement normal to the plane (L = 3 only; the normal is
      basis[:, 0] × basis[:, 1]);
    * ``flow_basis`` (L, K) — orthonormal columns of the plane's axes, K = min(L, 2);
    * ``flow_centre`` (L,) — the state at (x, y) = 0.

    Entries are NaN where F returns a non-finite state.
    """
    x = np.asarray(visited, dtype=np.float64)
    n_latent = x.shape[-1] if x.ndim else 0
    if not 1 <= n_latent <= 3 or grid < 2:
        return {}
    x = x.reshape(-1, n_latent)
    x = x[np.all(np.isfinite(x), axis=1)]
    if x.shape[0] < MIN_VISITED:
        return {}

    if n_latent == 3:
        centre, basis = principal_plane(x)
    else:
        centre, basis = np.zeros(n_latent), np.eye(n_latent)
    coords = (x - centre) @ basis  # (P, K)
    axes = _window_axes(coords, grid * grid if n_latent == 1 else grid, widen)

    if n_latent == 1:
        states = centre + axes[0][:, None] * basis[:, 0]  # (X, 1)
    else:
        gx, gy = np.meshgrid(axes[0], axes[1])  # (Y, X) each
        states = centre + gx.reshape(-1, 1) * basis[:, 0] + gy.reshape(-1, 1) * basis[:, 1]  # (Y·X, L)
    with torch.no_grad():
        nxt = step(torch.as_tensor(states, dtype=torch.float64))
    nxt = np.asarray(torch.as_tensor(nxt).detach().to("cpu", torch.float64).numpy(), dtype=np.float64)
    if nxt.shape != states.shape:
        raise ValueError(f"step returned shape {nxt.shape} for states of shape {states.shape}")
    displacement = np.where(np.isfinite(nxt), nxt - states, np.nan)
    displacement[~np.all(np.isfinite(displacement), axis=1)] = np.nan

    out: dict[str, np.ndarray] = {"flow_x": axes[0], "flow_basis": basis, "flow_centre": centre}
    if n_latent == 1:
        out["flow_u"] = displacement[:, 0]
        return out
    shape = (axes[1].size, axes[0].size)
    out["flow_y"] = axes[1]
    out["flow_u"] = (displacement @ basis[:, 0]).reshape(shape)
    out["flow_v"] = (displacement @ basis[:, 1]).reshape(shape)
    if n_latent == 3:
        normal = np.cross(basis[:, 0], basis[:, 1])
        out["flow_w"] = (displacement @ normal).reshape(shape)
    return out


def principal_plane(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and top-two principal axes of a cloud of states.

    states: (P, L) finite, L ≥ 2 → (mean (L,), basis (L, 2) orthonormal columns, in order of
    explained variance; each column's largest-magnitude entry is positive so the result does not
    depend on the SVD's sign choice).
    """
    mean = states.mean(axis=0)
    _, _, vt = np.linalg.svd(states - mean, full_matrices=True)
    basis = vt[:2].T.copy()
    for k in range(2):
        if basis[np.argmax(np.abs(basis[:, k])), k] < 0:
            basis[:, k] *= -1
    return mean, basis


def _window_axes(coords: np.ndarray, n: int, widen: float) -> list[np.ndarray]:
    """Per column of ``coords`` (P, K): (n,) evenly spaced points over its range widened by
    ``widen`` × the extent on each side, each side at least :data:`MIN_SIDE_RATIO` of the widest
    (:data:`DEGENERATE_HALF_WIDTH` around the states when none has any extent)."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    half = (0.5 + widen) * (hi - lo)
    widest = float(half.max())
    half = np.maximum(half, MIN_SIDE_RATIO * widest) if widest > 0 else np.full_like(half, DEGENERATE_HALF_WIDTH)
    middle = (lo + hi) / 2
    return [np.linspace(m - h, m + h, n) for m, h in zip(middle, half)]
