"""The flow-field figure: the one-step displacement F(z) − z of a model's latent map.

Draws the arrays of :func:`neurodyn.analysis.flow_field.flow_field` (``flow_x``, ``flow_y``,
``flow_u``, ``flow_v``, ``flow_basis``, ``flow_centre``) with the model's fixed points and its
posterior latent trajectories projected into the same plane.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neurodyn.report.figures.style import DPI, LABEL_FONT, SMALL_FONT, TITLE_FONT, new_figure

U_NULLCLINE_COLOR = "tab:purple"
V_NULLCLINE_COLOR = "tab:green"
TRAJECTORY_COLOR = "0.2"
FLOW_CMAP = "viridis"


def flow_field_figure(
    flow: Mapping[str, np.ndarray],
    fixed_points: Sequence[Mapping[str, Any]],
    latents: np.ndarray | None,
    *,
    title: str,
    max_trials: int = 8,
) -> Figure:
    """Phase portrait of a latent map of 1–3 dimensions from its flow-field arrays.

    flow: ``flow_x`` (X,), ``flow_u`` ((Y, X), or (X,) in 1-D), and in 2-D/3-D ``flow_y`` (Y,)
    and ``flow_v`` (Y, X); ``flow_basis`` (L, K) and ``flow_centre`` (L,) place the plane: a
    state z has plane coordinates (z − centre) @ basis. fixed_points: dicts with ``z`` (L,),
    ``stable`` (bool) and optionally ``kind`` (str, e.g. "saddle"); latents: (trial, time, L)
    posterior latent states, the first ``max_trials`` trials drawn, or None.

    Plane (L = 2, or a plane section for L = 3): streamlines of (u, v) coloured by the speed
    ‖(u, v)‖ per step, equal aspect; for L = 2 the nullclines u = 0 and v = 0 (contours of the
    lattice, gids ``nullcline-u`` and ``nullcline-v``). Fixed points projected into the plane
    (filled = stable, open = unstable, labelled with their kind when there are few) and thin
    posterior trajectories on top. L = 1: Δz = F(z) − z against z with the zero line, fixed
    points on it and the visited states as a rug. Raises ValueError for an empty ``flow``.
    """
    if "flow_x" not in flow or "flow_u" not in flow:
        raise ValueError("no flow field (the map has more than three latent dimensions or no finite visited states)")
    basis = np.asarray(flow.get("flow_basis", np.eye(1)), dtype=np.float64)
    centre = np.asarray(flow.get("flow_centre", np.zeros(basis.shape[0])), dtype=np.float64)
    points = _projected_points(fixed_points, centre, basis)
    paths = _projected_latents(latents, centre, basis, max_trials)
    if "flow_y" not in flow:
        return _flow_1d(flow, points, paths, title)
    return _flow_plane(flow, points, paths, title, section=basis.shape[0] == 3)


def _projected_points(
    fixed_points: Sequence[Mapping[str, Any]], centre: np.ndarray, basis: np.ndarray
) -> list[tuple[np.ndarray, bool, str]]:
    """(plane coordinates (K,), stable, kind) of each fixed point with a finite z of the right size."""
    out = []
    for point in fixed_points or ():
        z = np.asarray(point.get("z", []), dtype=np.float64).ravel()
        if z.shape != centre.shape or not np.all(np.isfinite(z)):
            continue
        out.append(((z - centre) @ basis, bool(point.get("stable", False)), str(point.get("kind") or "")))
    return out


def _projected_latents(latents: np.ndarray | None, centre: np.ndarray, basis: np.ndarray, max_trials: int):
    """(trial, time, K) plane coordinates of the first ``max_trials`` trials, or None."""
    if latents is None:
        return None
    values = np.asarray(latents, dtype=np.float64)
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3 or values.shape[-1] != centre.size or values.shape[0] == 0:
        return None
    return (values[:max_trials] - centre) @ basis


def _flow_plane(
    flow: Mapping[str, np.ndarray],
    points: list[tuple[np.ndarray, bool, str]],
    paths: np.ndarray | None,
    title: str,
    *,
    section: bool,
) -> Figure:
    x = np.asarray(flow["flow_x"], dtype=np.float64)
    y = np.asarray(flow["flow_y"], dtype=np.float64)
    u = np.asarray(flow["flow_u"], dtype=np.float64)
    v = np.asarray(flow["flow_v"], dtype=np.float64)
    speed = np.hypot(u, v)
    finite = np.isfinite(speed)
    nullclines = [] if section else [name for name, values in (("u", u), ("v", v)) if _changes_sign(values)]
    n_handles = len(nullclines) + (paths is not None) + len({stable for _, stable, _ in points})
    title_lines = 2 if section else 1
    fig, ax, cax = _plane_layout(x, y, title_lines, int(np.ceil(n_handles / 3)))
    handles: list[Any] = []
    if finite.any() and np.nanmax(speed) > 0:
        stream = ax.streamplot(
            x,
            y,
            np.ma.masked_invalid(u),
            np.ma.masked_invalid(v),
            color=np.ma.masked_invalid(speed),
            cmap=FLOW_CMAP,
            density=1.1,
            linewidth=0.9,
            arrowsize=0.9,
            zorder=1,
        )
        what = "in-plane speed" if section else "speed"
        bar = fig.colorbar(stream.lines, cax=cax)
        bar.set_label(f"{what} ‖F(z) − z‖ per step (a.u.)", fontsize=LABEL_FONT)
        bar.ax.tick_params(labelsize=SMALL_FONT)
    else:
        cax.set_visible(False)
        ax.text(
            0.5,
            0.5,
            "no finite flow" if not finite.any() else "F(z) = z everywhere",
            transform=ax.transAxes,
            ha="center",
            fontsize=LABEL_FONT,
        )
    for values, color, name in ((u, U_NULLCLINE_COLOR, "u"), (v, V_NULLCLINE_COLOR, "v")):
        if name in nullclines:
            contour = ax.contour(x, y, values, levels=[0.0], colors=color, linewidths=1.6, zorder=2)
            contour.set_gid(f"nullcline-{name}")
            axis = "z₁" if name == "u" else "z₂"
            handles.append(Line2D([], [], color=color, lw=1.6, label=f"{axis}-nullcline (Δ{axis} = 0)"))
    if paths is not None:
        for path in paths:
            ax.plot(path[:, 0], path[:, 1], color=TRAJECTORY_COLOR, lw=0.7, alpha=0.7, zorder=3, gid="trajectory")
            ax.plot(path[0, 0], path[0, 1], "o", color=TRAJECTORY_COLOR, ms=3, zorder=3)
        handles.append(
            Line2D([], [], color=TRAJECTORY_COLOR, lw=0.7, marker="o", ms=3, label=f"posterior trials ({len(paths)})")
        )
    handles += _draw_fixed_points(ax, points, (x, y))
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(y[0], y[-1])
    ax.set_aspect("equal", adjustable="box")
    if section:
        ax.set_xlabel("PC 1 of the visited states (a.u.)")
        ax.set_ylabel("PC 2 of the visited states (a.u.)")
        ax.set_title(f"{title}\nflow in the plane of the top two PCs (a section of the 3-D flow)", fontsize=TITLE_FONT)
    else:
        ax.set_xlabel("latent z₁ (a.u.)")
        ax.set_ylabel("latent z₂ (a.u.)")
        ax.set_title(title, fontsize=TITLE_FONT)
    if handles:
        fig.legend(
            handles=handles,
            fontsize=SMALL_FONT,
            loc="lower center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(3, len(handles)),
        )
    return fig


def _changes_sign(values: np.ndarray) -> bool:
    seen = values[np.isfinite(values)]
    return bool(seen.size) and seen.min() < 0 < seen.max()


def _plane_layout(x: np.ndarray, y: np.ndarray, title_lines: int, legend_rows: int):
    """(figure, axes, colour-bar axes) at fixed positions for an equal-aspect window over x × y.

    The panel takes the window's shape (its side ratio clipped to [1/2, 2]) within 5.0 × 4.6 in;
    the figure is at least 6.6 in wide for the legend below. A layout engine is not used: those
    fail to keep room for the title above an equal-aspect panel.
    """
    extent_x, extent_y = float(x[-1] - x[0]), float(y[-1] - y[0])
    ratio = float(np.clip(extent_y / extent_x, 0.5, 2.0)) if extent_x > 0 and extent_y > 0 else 1.0
    panel_w = min(5.0, 4.6 / ratio)
    panel_h = panel_w * ratio
    left, bar_gap, bar_w, bar_room = 0.85, 0.2, 0.15, 0.95
    top = 0.15 + 0.2 * title_lines
    bottom = 0.55 + (legend_rows * 0.19 + 0.1 if legend_rows else 0.0)
    used = left + panel_w + bar_gap + bar_w + bar_room
    width = max(used, 6.6)
    height = top + panel_h + bottom
    x0 = left + (width - used) / 2
    fig = Figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((x0 / width, bottom / height, panel_w / width, panel_h / height))
    cax = fig.add_axes(((x0 + panel_w + bar_gap) / width, bottom / height, bar_w / width, panel_h / height))
    return fig, ax, cax


def _flow_1d(
    flow: Mapping[str, np.ndarray],
    points: list[tuple[np.ndarray, bool, str]],
    paths: np.ndarray | None,
    title: str,
) -> Figure:
    x = np.asarray(flow["flow_x"], dtype=np.float64)
    u = np.asarray(flow["flow_u"], dtype=np.float64).ravel()
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.plot(x, u, color="black", lw=1.6)
    handles: list[Any] = [Line2D([], [], color="black", lw=1.6, label="Δz = F(z) − z")]
    if paths is not None:
        visited = paths[..., 0].ravel()
        visited = visited[np.isfinite(visited)]
        if visited.size > 2000:
            visited = visited[:: visited.size // 2000 + 1]
        ax.plot(
            visited,
            np.full(visited.size, 0.03),
            "|",
            color=TRAJECTORY_COLOR,
            ms=8,
            alpha=0.3,
            transform=ax.get_xaxis_transform(),
        )
        handles.append(
            Line2D([], [], color=TRAJECTORY_COLOR, marker="|", ls="none", ms=8, label="visited states (posterior)")
        )
    handles += _draw_fixed_points(ax, [(np.array([p[0][0], 0.0]), p[1], p[2]) for p in points], (x, None))
    ax.set_xlim(x[0], x[-1])
    ax.set_xlabel("latent z (a.u.)")
    ax.set_ylabel("Δz = F(z) − z per step (a.u.)")
    ax.set_title(title, fontsize=TITLE_FONT)
    fig.legend(handles=handles, fontsize=SMALL_FONT, loc="outside lower center", ncol=min(4, len(handles)))
    return fig


def _draw_fixed_points(
    ax, points: list[tuple[np.ndarray, bool, str]], window: tuple[np.ndarray, np.ndarray | None]
) -> list[Line2D]:
    """Markers (filled = stable, open = unstable) at the points inside the window, their kind
    written beside them when at most six are shown; legend handles (with how many lie outside)."""
    x, y = window
    inside = [p for p in points if x[0] <= p[0][0] <= x[-1] and (y is None or y[0] <= p[0][1] <= y[-1])]
    labelled = len(inside) <= 6
    by_x = np.argsort([p[0][0] for p in inside], kind="stable")
    for rank, index in enumerate(by_x):
        xy, stable, kind = inside[index]
        ax.plot(
            xy[0],
            xy[1],
            "o",
            ms=9,
            mew=2,
            color="black",
            markerfacecolor="black" if stable else "white",
            zorder=5,
            clip_on=False,
            gid="fixed-point-stable" if stable else "fixed-point-unstable",
        )
        if kind and labelled:  # neighbours (in x) alternate above and below their point
            ax.annotate(
                kind,
                (xy[0], xy[1]),
                xytext=(7, 7 if rank % 2 == 0 else -17),
                textcoords="offset points",
                fontsize=SMALL_FONT,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
                zorder=6,
            )
    handles = []
    for stable, name in ((True, "stable"), (False, "unstable")):
        n_in = sum(p[1] == stable for p in inside)
        n_out = sum(p[1] == stable for p in points) - n_in
        if n_in + n_out == 0:
            continue
        label = f"{name} fixed point" + (f" ({n_out} outside the view)" if n_out else "")
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                ms=8,
                mew=2,
                color="black",
                markerfacecolor="black" if stable else "white",
                ls="none",
                label=label,
            )
        )
    return handles
