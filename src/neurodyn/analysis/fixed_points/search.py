"""Every fixed point of a smooth latent map that a search can find, and how complete the search was.

A fixed point z* = F(z*) is a root of G(z) = F(z) − z. Stable points are easy: free runs end
there. Saddles and sources are not visited by free runs, and a descent from visited states only
reaches the ones whose basin (under the descent) holds a start. The search here looks for roots
everywhere a fixed point can be, and keeps count of how often it finds something new:

* **Starts.** Visited states (the Adam search of :func:`.numerical.adam_fixed_points` with a Newton
  polish, as for fitted models) and a scrambled Sobol design over the region that holds every fixed
  point — for a map bounded by tanh (a vanilla tanh RNN, a GRU) the open cube (−1, 1)ⁿ; for
  another map the caller's box, else the visited states' bounding box widened — in rounds of
  ``round_size`` starts. For n ≤ 3 latents the first round is a dense grid over the region
  (``mode="grid"``), which for these small maps is the exhaustive search.
* **Newton** from every start at once (damped: a step never exceeds a quarter of the region's
  diameter), then **deflation** from the same starts: Newton on M(z) G(z) with
  M(z) = Πᵢ (‖z − zᵢ‖⁻² + 1) over the points zᵢ found so far, so that a found point repels the
  iteration instead of absorbing it and its neighbours become reachable (Farrell, Birkisson & Funke
  2015, SIAM J. Sci. Comput. 37, A2026, "Deflation techniques for finding distinct solutions of
  nonlinear partial differential equations"). The deflated Newton step is the plain one scaled,
  δ̃ = δ / (1 − ∇log M · δ) (their Eq. 3.5, by Sherman–Morrison), so deflation costs no extra solve.
  Deflated passes (from a subset of the round's starts: each costs as much as a plain pass) repeat
  while they find new points (``deflation_passes``).
* **Completeness.** A round of fresh starts that finds no new point is evidence that the search has
  saturated; the search stops after ``patience`` such rounds in a row (or ``max_rounds``). Beside
  the count of new points per round, the undeflated starts give each point a basin count, from
  which the Chao (1984) estimator of the number of classes in a population, n + f₁(f₁ − 1) /
  (2 (f₂ + 1)) with f₁ (f₂) the points found from exactly one (two) starts, estimates how many
  points exist that no start reached (Chao 1984, Scand. J. Statist. 11, 265, "Nonparametric
  estimation of the number of classes in a population"; the bias-corrected form). Neither is a
  proof: a fixed point whose Newton basin misses every start stays unseen.

Each point records which search found it first (``found_by``: ``visited``, ``grid``,
``space_filling`` or ``deflation``) and in which round.

Shapes: the map ``step`` takes (B, L) → (B, L) with rows independent (as in :mod:`.numerical`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from neurodyn.analysis.fixed_points.numerical import _jacobians, adam_fixed_points, linearise, newton_step
from neurodyn.analysis.fixed_points.point import FixedPoint
from neurodyn.errors import ConfigError

Step = Callable[[Tensor], Tensor]

MODES = ("auto", "grid", "space_filling", "visited")
SOURCES = ("visited", "grid", "space_filling", "deflation")
GRID_MAX_DIM = 3  # up to this many latents, mode auto starts with a dense grid
GRID_POINTS = {1: 2048, 2: 96, 3: 28}  # grid points per axis: 2048, 9216 and 21952 starts


@dataclass(frozen=True)
class SearchRound:
    """One batch of starts: where they came from, how many Newton brought to a fixed point
    (undeflated and deflated passes together) and how many of the points were new."""

    source: str
    n_starts: int
    n_converged: int
    new_points: int
    deflated_new_points: int

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "n_starts": self.n_starts,
            "n_converged": self.n_converged,
            "new_points": self.new_points,
            "of_which_by_deflation": self.deflated_new_points,
        }


@dataclass
class FixedPointSearch:
    """The result of :func:`search_fixed_points`.

    points: the fixed points, stable ones first, then by basin count; each has ``found_by`` and
    ``found_in_round`` set. basin_counts: (P,) undeflated starts that converged to each point.
    region: (lo (L,), hi (L,)) the box the design covered and where points were kept; region_kind:
    how that box was chosen. rounds: one :class:`SearchRound` per batch. stopped: why the search
    ended. truncated: the search stopped at ``max_points``.
    """

    points: list[FixedPoint]
    basin_counts: np.ndarray
    mode: str
    region: tuple[np.ndarray, np.ndarray]
    region_kind: str
    rounds: list[SearchRound] = field(default_factory=list)
    stopped: str = ""
    truncated: bool = False
    seconds: float = 0.0

    @property
    def new_in_last_round(self) -> int:
        return self.rounds[-1].new_points if self.rounds else 0

    @property
    def chao1(self) -> float:
        """Estimated number of fixed points (found and unseen) from the basin counts (Chao 1984)."""
        n = len(self.points)
        f1 = int(np.sum(self.basin_counts == 1))
        f2 = int(np.sum(self.basin_counts == 2))
        return float(n + f1 * (f1 - 1) / (2 * (f2 + 1)))

    def completeness(self) -> dict[str, Any]:
        """What the search did and how complete it looks, JSON-ready."""
        counted = [r for r in self.rounds if r.source != "visited"]
        return {
            "mode": self.mode,
            "region_kind": self.region_kind,
            "region": [self.region[0].tolist(), self.region[1].tolist()],
            "n_fixed_points": len(self.points),
            "n_starts": int(sum(r.n_starts for r in self.rounds)),
            "n_rounds": len(self.rounds),
            "rounds": [r.to_json() for r in self.rounds],
            "new_in_last_round": self.new_in_last_round,
            "rounds_without_new_points": _trailing_empty(counted),
            "estimated_total": round(self.chao1, 2),
            "estimated_unseen": round(self.chao1 - len(self.points), 2),
            "found_by": {s: sum(p.found_by == s for p in self.points) for s in SOURCES},
            "stopped": self.stopped,
            "truncated": self.truncated,
            "seconds": round(self.seconds, 3),
        }


def _trailing_empty(rounds: list[SearchRound]) -> int:
    n = 0
    for r in reversed(rounds):
        if r.new_points:
            break
        n += 1
    return n


def bounding_region(visited: Tensor, widen: float = 0.25) -> tuple[Tensor, Tensor]:
    """The bounding box of ``visited`` (P, L) widened by ``widen`` times its extent on each side;
    a side with no extent gets the widest side's (or 1)."""
    lo, hi = visited.min(0).values, visited.max(0).values
    extent = hi - lo
    floor = float(extent.max()) if float(extent.max()) > 0 else 1.0
    extent = torch.where(extent > 0, extent, torch.full_like(extent, floor))
    return lo - widen * extent, hi + widen * extent


def sobol_starts(lo: Tensor, hi: Tensor, n: int, seed: int, skip: int = 0) -> Tensor:
    """(n, L) points of a scrambled Sobol sequence in the box [lo, hi] (the ``skip`` first dropped,
    so consecutive calls with growing ``skip`` continue one sequence)."""
    engine = torch.quasirandom.SobolEngine(lo.shape[0], scramble=True, seed=seed)
    if skip:
        engine.fast_forward(skip)
    u = engine.draw(n, dtype=torch.float64).to(lo)
    return lo + u * (hi - lo)


def grid_starts(lo: Tensor, hi: Tensor, per_axis: int) -> Tensor:
    """(per_axis^L, L) cell centres of a regular grid over the box [lo, hi]."""
    axes = [
        lo[i] + (torch.arange(per_axis, dtype=lo.dtype, device=lo.device) + 0.5) / per_axis * (hi[i] - lo[i])
        for i in range(lo.shape[0])
    ]
    return torch.cartesian_prod(*axes).reshape(-1, lo.shape[0])


def deflation_log_gradient(z: Tensor, known: Tensor, power: float = 2.0, shift: float = 1.0) -> Tensor:
    """∇ log M(z) for M(z) = Πᵢ (‖z − zᵢ‖^−p + σ): z (B, L), known (K, L) → (B, L).

    Each factor contributes −p ‖d‖^(−p−2) d / (‖d‖^−p + σ) with d = z − zᵢ, which is
    −p d / (‖d‖² (1 + σ ‖d‖^p)) written without negative powers (no overflow next to a root)."""
    if known.shape[0] == 0:
        return torch.zeros_like(z)
    d = z.unsqueeze(1) - known.unsqueeze(0)  # (B, K, L)
    r2 = (d * d).sum(-1).clamp(min=1e-300)
    weight = -power / (r2 * (1 + shift * r2 ** (power / 2)))
    return (weight.unsqueeze(-1) * d).sum(1)


def newton_roots(
    f: Step,
    z0: Tensor,
    *,
    known: Tensor | None = None,
    n_iter: int = 60,
    tol: float = 1e-10,
    max_step: float = 1.0,
    escape: tuple[Tensor, Tensor] | None = None,
    stall: int = 15,
    batch: int = 1024,
) -> tuple[Tensor, Tensor]:
    """Damped (optionally deflated) Newton on G(z) = F(z) − z from every row of z0 (B, L).

    Solves (J − I) δ = −G for all active rows in one batched least-squares solve, scales δ by
    1 / (1 − ∇log M · δ) when ``known`` (K, L) roots are deflated (see the module docstring), and
    caps ‖δ‖ at ``max_step``. A row stops when ‖G‖ ≤ ``tol`` (1 + ‖z‖) (converged), or when it turns
    non-finite, leaves ``escape`` = (lo, hi) or has not cut its smallest ‖G‖ by 10 % in ``stall``
    iterations (failed). Returns z (B, L) and converged (B,).
    """
    z = z0.clone()
    converged = torch.zeros(z.shape[0], dtype=torch.bool, device=z.device)
    failed = torch.zeros_like(converged)
    eye = torch.eye(z.shape[-1], dtype=z.dtype, device=z.device)
    deflate = known is not None and known.shape[0] > 0
    best = torch.full_like(z[:, 0], math.inf)  # each row's smallest residual so far, and iterations since
    since = torch.zeros_like(converged, dtype=torch.long)
    for _ in range(n_iter + 1):
        active = (~converged & ~failed).nonzero().flatten()
        if active.numel() == 0:
            break
        za = z[active]
        with torch.no_grad():
            g = f(za) - za
        gnorm = g.norm(dim=-1)
        bad = ~torch.isfinite(gnorm)
        done = ~bad & (gnorm <= tol * (1 + za.norm(dim=-1)))
        if deflate:  # a root found before is not a root of the deflated system
            near = torch.cdist(za, known).min(1).values <= 1e-6 * (1 + za.norm(dim=-1))
            bad, done = bad | (done & near), done & ~near
        improved = gnorm < 0.9 * best[active]
        best[active] = torch.where(improved, gnorm, best[active])
        since[active] = torch.where(improved, 0, since[active] + 1)
        bad = bad | (since[active] > stall)  # wandering without progress (deflated rows, mostly)
        converged[active[done]] = True
        failed[active[bad]] = True
        keep = ~(done | bad)
        if _ == n_iter or not bool(keep.any()):
            break
        active, za, g = active[keep], za[keep], g[keep]
        J = _jacobians(f, za, batch)
        delta = newton_step(J - eye, -g)
        if deflate:
            slope = (deflation_log_gradient(za, known) * delta).sum(-1, keepdim=True)
            den = 1 - slope
            den = torch.where(den.abs() < 1e-12, torch.full_like(den, 1e-12), den)
            delta = delta / den
        norm = delta.norm(dim=-1, keepdim=True)
        new = za + delta * torch.clamp(max_step / norm.clamp(min=1e-300), max=1.0)
        lost = ~torch.isfinite(new).all(-1)
        if escape is not None:
            lost = lost | ((new < escape[0]) | (new > escape[1])).any(-1)
        failed[active[lost]] = True
        z[active] = torch.where(lost.unsqueeze(-1), za, new)
    return z, converged


class _Found:
    """The distinct points found so far, their provenance and basin counts."""

    def __init__(self, dim: int, merge_distance: float, dtype: torch.dtype, device: torch.device):
        self.z = torch.zeros(0, dim, dtype=dtype, device=device)
        self.source: list[str] = []
        self.round: list[int] = []
        self.counts: list[int] = []
        self.merge_distance = merge_distance

    def add(self, candidates: Tensor, source: str, round_index: int, count: bool) -> int:
        """Merge ``candidates`` (C, L); returns how many were new. ``count``: undeflated starts,
        whose arrivals are basin counts."""
        if candidates.shape[0] == 0:
            return 0
        if self.z.shape[0]:
            dist, nearest = torch.cdist(candidates, self.z).min(1)
            known = dist <= self.merge_distance
            if count:
                for i, n in zip(*torch.unique(nearest[known], return_counts=True), strict=True):
                    self.counts[int(i)] += int(n)
            candidates = candidates[~known]
        new = 0
        while candidates.shape[0]:  # one pass per new point: the first candidate and all beside it
            close = (candidates - candidates[0]).norm(dim=-1) <= self.merge_distance
            self.z = torch.cat([self.z, candidates[:1]])
            self.source.append(source)
            self.round.append(round_index)
            self.counts.append(int(close.sum()) if count else 0)
            candidates = candidates[~close]
            new += 1
        return new


def _check_settings(mode: str, **numbers: float) -> None:
    if mode not in MODES:
        raise ConfigError("fixed_point_search", f"must be one of {', '.join(MODES)}, got {mode!r}")
    for name, value in numbers.items():
        real = name == "widen"
        ok = isinstance(value, (int, float) if real else int) and not isinstance(value, bool)
        least = 0 if name in ("patience", "deflation_passes", "seed", "widen") else 1
        if not ok or not math.isfinite(value) or value < least:
            kind = "number" if real else "integer"
            raise ConfigError(name, f"must be a {'non-negative' if least == 0 else 'positive'} {kind}, got {value!r}")


def search_fixed_points(
    step: Step,
    dim: int,
    *,
    visited: Tensor | None = None,
    region: tuple[Tensor, Tensor] | None = None,
    region_kind: str | None = None,
    mode: str = "auto",
    round_size: int = 256,
    max_rounds: int = 12,
    patience: int = 2,
    deflation_passes: int = 3,
    deflation_starts: int = 64,
    newton_iters: int = 60,
    residual_tol: float = 1e-10,
    max_points: int = 256,
    widen: float = 0.25,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    visited_options: dict[str, Any] | None = None,
) -> FixedPointSearch:
    """Fixed points of ``step`` ((B, dim) → (B, dim)) with a completeness record.

    visited: (P, dim) states the map visits (e.g. posterior latents), searched first by Adam on
    q = ½‖F(z) − z‖² with a Newton polish; also the region's fallback. region: (lo (dim,), hi (dim,))
    a box holding every fixed point (e.g. the open cube for a tanh-bounded map); None: the visited
    states' bounding box widened by ``widen`` times its extent per side. region_kind: how the
    caller chose ``region`` (recorded). mode: ``auto`` (``grid`` for dim ≤ 3, else
    ``space_filling``), ``grid``, ``space_filling`` or ``visited`` (the visited states only).
    round_size: starts per space-filling round; max_rounds, patience: at most this many rounds after
    the first, stopping after ``patience`` rounds in a row found nothing new; deflation_passes:
    deflated Newton passes per round (each deflating every point found so far; 0: no deflation),
    each from ``deflation_starts`` of the round's starts (evenly spaced in the round's order);
    residual_tol: a root has ‖F(z) − z‖ ≤ residual_tol (1 + ‖z‖); max_points: stop (truncated)
    beyond this many points — a continuum of fixed points (a line attractor) has no end.
    Points outside the region are dropped. visited_options: keyword arguments of
    :func:`.numerical.adam_fixed_points` for the search from the visited states (its Newton polish
    is always on). See the module docstring.
    """
    t0 = time.perf_counter()
    _check_settings(
        mode,
        dim=dim,
        round_size=round_size,
        max_rounds=max_rounds,
        patience=patience,
        deflation_passes=deflation_passes,
        deflation_starts=deflation_starts,
        newton_iters=newton_iters,
        max_points=max_points,
        widen=widen,
        seed=seed,
    )
    if visited is not None:
        visited = torch.as_tensor(visited).to(dtype)
        visited = visited[torch.isfinite(visited).all(-1)]
        if device is None:
            device = visited.device
    if region is None:
        if visited is None or visited.shape[0] == 0:
            raise ConfigError(
                "fixed_point_search", "needs either a region that holds the fixed points or visited states"
            )
        lo, hi = bounding_region(visited, widen)
        region_kind = f"visited states' bounding box widened by {widen:g} of its extent per side"
    else:
        lo, hi = (torch.as_tensor(x, dtype=dtype, device=device) for x in region)
        region_kind = region_kind or "given"
    if visited is not None:
        visited = visited.to(lo.device)
    lo, hi = lo.to(dtype), hi.to(dtype)
    if lo.shape != (dim,) or hi.shape != (dim,) or not bool((hi > lo).all()):
        raise ConfigError("fixed_point_search", f"region must be two ({dim},) bounds with lo < hi")
    if mode == "auto":
        mode = "grid" if dim <= GRID_MAX_DIM else "space_filling"
    if mode == "grid" and dim > GRID_MAX_DIM:
        raise ConfigError(
            "fixed_point_search", f"grid mode is for maps of at most {GRID_MAX_DIM} latents, this one has {dim}"
        )

    def f(z: Tensor) -> Tensor:
        return step(z).to(dtype)

    diameter = float((hi - lo).norm())
    width = hi - lo
    escape = (lo - 2 * width, hi + 2 * width)  # Newton may wander outside before it settles
    found = _Found(dim, 1e-6 * max(diameter, 1.0), dtype, lo.device)
    rounds: list[SearchRound] = []
    slack = 1e-9 * width  # a point on the region's face (e.g. a zero coordinate) is inside despite rounding

    def inside(z: Tensor) -> Tensor:
        return ((z >= lo - slack) & (z <= hi + slack)).all(-1)

    newton = dict(n_iter=newton_iters, tol=residual_tol, max_step=0.25 * diameter, escape=escape)

    def run_round(starts: Tensor, source: str) -> SearchRound:
        index, n_starts = len(rounds), int(starts.shape[0])
        z, ok = newton_roots(f, starts, **newton)
        roots = z[ok & inside(z)]
        new = found.add(roots, source, index, count=True)
        n_conv, deflated_new = int(roots.shape[0]), 0
        if starts.shape[0] > deflation_starts:  # deflate from an even subset of the round's starts
            starts = starts[torch.linspace(0, starts.shape[0] - 1, deflation_starts).round().long()]
        for _ in range(deflation_passes):
            if len(found.source) >= max_points or found.z.shape[0] == 0:
                break
            z, ok = newton_roots(f, starts, known=found.z, **newton)
            roots = z[ok & inside(z)]
            n_conv += int(roots.shape[0])
            added = found.add(roots, "deflation", index, count=False)
            deflated_new += added
            if not added:
                break
        return SearchRound(source, n_starts, n_conv, new + deflated_new, deflated_new)

    if visited is not None and visited.shape[0]:
        # Adam keeps slow points too (its acceptance is loose); Newton from them keeps the roots
        adam = adam_fixed_points(f, visited, **{**(visited_options or {}), "polish_newton": True})
        zs = torch.as_tensor(adam.z, dtype=dtype, device=lo.device)
        zs, ok = newton_roots(f, zs, **newton)
        roots = zs[ok & inside(zs)]
        new = found.add(roots, "visited", 0, count=False)
        rounds.append(SearchRound("visited", int(visited.shape[0]), int(roots.shape[0]), new, 0))
    stopped = "visited states only" if mode == "visited" else ""
    drawn = 0
    if mode == "grid":
        rounds.append(run_round(grid_starts(lo, hi, GRID_POINTS[dim]), "grid"))
    if mode in ("grid", "space_filling"):
        while True:
            if len(found.source) >= max_points:
                stopped = f"{max_points} points (max_points)"
                break
            counted = [r for r in rounds if r.source != "visited"]
            if len(counted) >= max_rounds + (mode == "grid"):
                stopped = f"{max_rounds} rounds (max_rounds)"
                break
            if len(counted) >= patience and _trailing_empty(counted) >= patience:
                stopped = f"{patience} rounds in a row found no new point"
                break
            starts = sobol_starts(lo, hi, round_size, seed, skip=drawn)
            drawn += round_size
            rounds.append(run_round(starts, "space_filling"))

    z_all = found.z
    if z_all.shape[0]:
        J, lam, right, left = linearise(f, z_all)
        with torch.no_grad():
            residuals = (f(z_all) - z_all).norm(dim=-1).tolist()
    points = []
    for i in range(z_all.shape[0]):
        eig = lam[i].cpu().numpy()
        resid = residuals[i]
        points.append(
            FixedPoint(
                z=z_all[i].cpu().numpy(),
                jacobian=J[i].cpu().numpy(),
                eigenvalues=eig,
                stable=bool(np.all(np.abs(eig) < 1)),
                method="newton",
                residual=resid,
                q=0.5 * resid**2,
                right_eigenvectors=right[i].cpu().numpy(),
                left_eigenvectors=left[i].cpu().numpy(),
                found_by=found.source[i],
                found_in_round=found.round[i],
            )
        )
    counts = np.asarray(found.counts, dtype=np.int64)
    order = sorted(range(len(points)), key=lambda i: (not points[i].stable, -counts[i], i))
    return FixedPointSearch(
        points=[points[i] for i in order],
        basin_counts=counts[order] if len(order) else counts,
        mode=mode,
        region=(lo.cpu().numpy(), hi.cpu().numpy()),
        region_kind=region_kind or "",
        rounds=rounds,
        stopped=stopped,
        truncated=len(found.source) >= max_points,
        seconds=time.perf_counter() - t0,
    )


__all__ = [
    "FixedPointSearch",
    "SearchRound",
    "bounding_region",
    "deflation_log_gradient",
    "grid_starts",
    "newton_roots",
    "search_fixed_points",
    "sobol_starts",
]
