"""Figures of the fixed points' linearisation.

Jacobian eigenvalues in the complex plane (leading modes labelled with their time constant and
frequency) and the transfer-function gain at each fixed point.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neurodyn.report.figures.style import (
    LABEL_FONT,
    SMALL_FONT,
    STABLE_COLOR,
    TITLE_FONT,
    UNSTABLE_COLOR,
    complex_values,
    new_figure,
    square_panels_figure,
)


def mode_label(time_constant: float | None, frequency: float | None) -> str:
    """'τ=… s, f=… Hz' for one eigenmode (τ None or infinite → ∞)."""
    tau = "∞" if time_constant is None or not np.isfinite(time_constant) else f"{time_constant:.3g} s"
    freq = "—" if frequency is None else f"{frequency:.3g} Hz"
    return f"τ={tau}, f={freq}"


def eigenvalue_figure(fixed_points: Sequence[dict], *, n_annotate: int = 3) -> Figure:
    """Jacobian eigenvalues of each fixed point in the complex plane, with the unit circle.

    fixed_points: dicts with ``eigenvalues`` ([re, im] pairs, discrete time), ``stable``,
    ``time_constants_s`` and ``frequencies_hz`` (aligned with the eigenvalues). Left: the whole
    plane; right: a zoom on the eigenvalues, the ``n_annotate`` leading modes of the first fixed
    point annotated with their time constant and frequency.
    """
    markers = "osD^v<>ph*"
    handles = [
        Line2D([], [], marker="o", color=STABLE_COLOR, ls="none", label="stable fixed point"),
        Line2D(
            [], [], marker="o", color=UNSTABLE_COLOR, markerfacecolor="none", ls="none", label="unstable fixed point"
        ),
        Line2D([], [], color="0.5", lw=0.8, label="unit circle |λ| = 1"),
    ]
    if 1 < len(fixed_points) <= 6:
        handles += [
            Line2D([], [], marker=markers[i], color="0.4", ls="none", label=f"fixed point #{i}")
            for i in range(len(fixed_points))
        ]
    fig, (full, zoom) = square_panels_figure(2, legend_rows=int(np.ceil(len(handles) / 3)))
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    all_values = []
    for ax in (full, zoom):
        ax.plot(circle.real, circle.imag, color="0.5", lw=0.8)
        ax.axhline(0, color="0.85", lw=0.6)
        ax.axvline(0, color="0.85", lw=0.6)
    for index, point in enumerate(fixed_points):
        values = complex_values(point.get("eigenvalues", []))
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        all_values.append(values)
        color = STABLE_COLOR if point.get("stable") else UNSTABLE_COLOR
        for ax in (full, zoom):
            ax.plot(
                values.real,
                values.imag,
                markers[index % len(markers)],
                color=color,
                ms=6,
                markerfacecolor=color if point.get("stable") else "none",
                ls="none",
                mew=1.5,
            )
    if all_values:
        first = next(p for p in fixed_points if np.isfinite(complex_values(p.get("eigenvalues", []))).any())
        values = np.concatenate(all_values)
        # a square window (same span on both axes) so that the equal aspect keeps the panel's size
        centre_x = (float(values.real.min()) + float(values.real.max())) / 2
        centre_y = (float(values.imag.min()) + float(values.imag.max())) / 2
        span = max(float(np.ptp(values.real)), float(np.ptp(values.imag)))
        half = span / 2 + max(0.05, 0.25 * span)
        zoom.set_xlim(centre_x - half, centre_x + half)
        zoom.set_ylim(centre_y - half, centre_y + half)
        _annotate_modes(zoom, first, n_annotate)
        reach = max(1.1, float(np.abs(values).max()) * 1.1)
    else:
        reach = 1.1
        full.text(0, 0.5, "no fixed points found", ha="center", fontsize=LABEL_FONT)
        zoom.set_xlim(-reach, reach)
        zoom.set_ylim(-reach, reach)
    full.set_xlim(-reach, reach)
    full.set_ylim(-reach, reach)
    for ax in (full, zoom):
        ax.set_aspect("equal", adjustable="box")  # square windows on square panels: a round unit circle
    full.set_title("Jacobian eigenvalues λ (discrete time)", fontsize=LABEL_FONT)
    zoom.set_title("zoom on the leading modes", fontsize=LABEL_FONT)
    for ax in (full, zoom):
        ax.set_xlabel("Re λ")
        ax.tick_params(labelsize=SMALL_FONT)
    full.set_ylabel("Im λ")
    fig.legend(handles=handles, fontsize=SMALL_FONT, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncol=3)
    return fig


def _annotate_modes(ax, point: dict, n_annotate: int) -> None:
    """Label the leading eigenmodes (one of each conjugate pair) of one fixed point."""
    values = complex_values(point.get("eigenvalues", []))
    taus = list(point.get("time_constants_s", []) or [])
    freqs = list(point.get("frequencies_hz", []) or [])
    order = np.argsort(-np.abs(values), kind="stable")
    middle = sum(ax.get_xlim()) / 2
    done = 0
    for i in order:
        if not np.isfinite(values[i]):
            continue
        if values[i].imag < 0 and np.any(np.isclose(values, np.conj(values[i]))):
            continue
        tau = taus[i] if i < len(taus) else None
        freq = freqs[i] if i < len(freqs) else None
        right_half = values[i].real > middle  # labels point inwards, away from the panel's edge
        ax.annotate(
            mode_label(tau, freq),
            (values[i].real, values[i].imag),
            fontsize=SMALL_FONT,
            ha="right" if right_half else "left",
            xytext=(-6 if right_half else 6, 10 + 12 * (done % 3)),
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6},
        )
        done += 1
        if done == n_annotate:
            break


def transfer_figure(frequency: np.ndarray, gain: np.ndarray, stable: Sequence[bool]) -> Figure:
    """Transfer-function gain of the linearisation at each fixed point.

    frequency: (F,) Hz; gain: (P, F) largest singular value of H(ω) per fixed point; stable: (P,).
    """
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    gain = np.asarray(gain, dtype=np.float64)
    for i, row in enumerate(gain):
        shown = np.where(np.isfinite(row) & (row > 0), row, np.nan)
        ax.plot(
            frequency,
            shown,
            color=STABLE_COLOR if stable[i] else UNSTABLE_COLOR,
            lw=1.2,
            alpha=0.8,
            label=f"fixed point {i} ({'stable' if stable[i] else 'unstable'})" if i < 8 else None,
        )
    ax.set_yscale("log")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("gain (largest singular value of H)")
    ax.set_title("Transfer function at each fixed point", fontsize=TITLE_FONT)
    if len(gain):
        ax.legend(fontsize=SMALL_FONT)
    ax.margins(x=0)
    return fig
