"""Figures of expansion points along the trial: their Jacobian modes, and jPCA planes vs eigen-planes."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.cm
import matplotlib.colors
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures.style import SMALL_FONT, complex_values, new_figure


def expansion_modes_figure(anchors: Sequence[dict]) -> Figure:
    """Eigenvalues of the Jacobian of the latent map at expansion points along the trial.

    anchors: dicts with ``time`` (s), ``eigenvalues`` ([re, im] pairs, discrete time),
    ``time_constants_s`` and ``frequencies_hz`` (aligned). Left: the complex plane with the unit
    circle, colour = time in the trial; right: each mode's frequency against its decay time constant.
    """
    fig = new_figure(8.4, 3.8)
    plane, modes = fig.subplots(1, 2)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    plane.plot(circle.real, circle.imag, color="0.5", lw=0.8)
    times = np.array([float(a.get("time", i)) for i, a in enumerate(anchors)])
    norm = matplotlib.colors.Normalize(times.min(), times.max() if times.max() > times.min() else times.min() + 1)
    cmap = matplotlib.colormaps["viridis"]
    for anchor, t in zip(anchors, times):
        values = complex_values(anchor.get("eigenvalues", []))
        taus = np.array([np.nan if v is None else float(v) for v in anchor.get("time_constants_s", [])], dtype=float)
        freqs = np.array([np.nan if v is None else float(v) for v in anchor.get("frequencies_hz", [])], dtype=float)
        plane.scatter(values.real, values.imag, s=10, color=cmap(norm(t)))
        ok = np.isfinite(taus) & np.isfinite(freqs) & (taus > 0)
        modes.scatter(taus[ok], freqs[ok], s=10, color=cmap(norm(t)))
    plane.set_aspect("equal")
    plane.set_xlabel("Re λ")
    plane.set_ylabel("Im λ")
    plane.set_title("J_h eigenvalues at expansion points", fontsize=9)
    modes.set_xscale("log")
    modes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    modes.set_xlabel("decay time constant τ = −Δt / ln|λ| (s)")
    modes.set_ylabel("frequency arg λ / (2π Δt) (Hz)")
    modes.set_title("modes: frequency vs decay", fontsize=9)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=[plane, modes], label="time in trial (s)")
    return fig


def jpca_figure(
    projection: np.ndarray,
    angles: np.ndarray,
    jpca_hz: Sequence[float],
    eigen_hz: Sequence[float],
    conditions: Sequence[str] | None = None,
) -> Figure:
    """jPCA planes vs the eigen-planes at the central expansion point.

    projection: (C, T, 2) condition-averaged trajectories in the first (fastest) jPCA plane;
    angles: (A, B) mean principal angle (degrees) between jPCA plane a and eigen-plane b;
    jpca_hz: (A,) and eigen_hz: (B,) their rotation frequencies, for the axis labels.
    """
    fig = new_figure(8.6, 3.8)
    traj, heat = fig.subplots(1, 2)
    projection = np.asarray(projection, dtype=float)
    colors = matplotlib.colormaps["hsv"](np.linspace(0, 0.9, max(projection.shape[0], 1)))
    for c in range(projection.shape[0]):
        traj.plot(projection[c, :, 0], projection[c, :, 1], color=colors[c], lw=0.8)
        traj.plot(projection[c, 0, 0], projection[c, 0, 1], "o", color=colors[c], ms=3)
    traj.set_xlabel("jPC 1")
    traj.set_ylabel("jPC 2")
    traj.set_title(
        f"condition averages in jPCA plane 1 ({jpca_hz[0]:.3g} Hz)" if len(jpca_hz) else "jPCA plane 1", fontsize=9
    )
    angles = np.asarray(angles, dtype=float)
    if angles.size:
        image = heat.imshow(angles, vmin=0, vmax=90, cmap="magma_r", aspect="auto")
        for (i, j), v in np.ndenumerate(angles):
            heat.text(
                j, i, f"{v:.0f}°", ha="center", va="center", fontsize=SMALL_FONT, color="white" if v < 45 else "black"
            )
        fig.colorbar(image, ax=heat, label="mean principal angle (°)")
    heat.set_yticks(
        range(len(jpca_hz)), [f"jPCA {i + 1}\n{f:.3g} Hz" for i, f in enumerate(jpca_hz)], fontsize=SMALL_FONT
    )
    heat.set_xticks(range(len(eigen_hz)), [f"{f:.3g}" for f in eigen_hz], fontsize=SMALL_FONT)
    heat.set_xlabel("eigen-plane frequency (Hz)")
    heat.set_title("angles between planes (90° = orthogonal)", fontsize=9)
    return fig
