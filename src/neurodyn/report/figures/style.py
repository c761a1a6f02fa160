"""Look and shared helpers of the report figures.

DPI and colours, :func:`figure_png` and :func:`new_figure`, condition labels and colours,
eigenvalue parsing, and the drawing helpers that both the dataset figures (:mod:`.data`) and the
recorded-vs-generated figure (:mod:`.generation`) use: channel × time images on a shared scale,
stacked traces, the alignment marker and the held-in/held-out legend. The other modules of the
package import only this one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

DPI = 100
STABLE_COLOR = "tab:blue"
UNSTABLE_COLOR = "tab:red"
RECORDED_COLOR = "black"
GENERATED_COLOR = "tab:orange"
HELDOUT_COLOR = "tab:red"
HELDIN_COLOR = "tab:blue"
MASKED_COLOR = "#cfe3f7"
UNOBSERVED_NOTE = "; pale blue: unobserved bins"


# ----------------------------------------------------------------------------- rendering


def figure_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


# ----------------------------------------------------------------------------- conditions and channels


def condition_labels(values: Any, n: int) -> np.ndarray:
    """(trial,) condition labels as strings; all '' when there are none."""
    if values is None:
        return np.full(n, "", dtype=object)
    return np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)


def has_conditions(labels: np.ndarray) -> bool:
    """True when at least one trial carries a non-empty condition label."""
    return bool(np.any(labels != ""))


def sorted_conditions(labels: np.ndarray) -> list[str]:
    """Distinct non-empty labels, numerically sorted when they all are numbers."""
    unique = sorted({str(v) for v in labels if str(v) != ""})
    try:
        return sorted(unique, key=float)
    except ValueError:
        return unique


def condition_colors(conditions: Sequence[str]) -> dict[str, Any]:
    """A colour per condition label (tab10, then a continuous map for many conditions)."""
    cmap = (
        matplotlib.colormaps["tab10"]
        if len(conditions) <= 10
        else matplotlib.colormaps["viridis"].resampled(len(conditions))
    )
    return {c: cmap(i % cmap.N) for i, c in enumerate(conditions)}


def channel_order(heldout: np.ndarray) -> np.ndarray:
    """(channel,) indices putting held-in channels first, then held-out ones."""
    return np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])


def complex_values(eigenvalues: Sequence[Any]) -> np.ndarray:
    """(k,) complex from [re, im] pairs, complex numbers or reals."""
    out = []
    for value in eigenvalues or ():
        if isinstance(value, (list, tuple)) and len(value) == 2:
            out.append(complex(float(value[0]), float(value[1])))
        elif isinstance(value, dict):
            out.append(complex(float(value.get("re", 0.0)), float(value.get("im", 0.0))))
        else:
            out.append(complex(value))
    return np.asarray(out, dtype=np.complex128)


# ----------------------------------------------------------------------------- drawing helpers shared by dataset and model figures


def bin_edges(time: np.ndarray) -> tuple[float, float]:
    """Outer edges of bins centred at ``time`` (s)."""
    step = float(np.median(np.diff(time))) if time.size > 1 else 1.0
    return float(time[0] - step / 2), float(time[-1] + step / 2)


def mark_alignment(ax, time: np.ndarray) -> None:
    """Dotted green line at t = 0 (the alignment event) when it lies strictly inside the window."""
    lo, hi = bin_edges(time)
    step = (hi - lo) / max(time.size, 1)
    if lo < -1e-6 * step and hi > 1e-6 * step:
        ax.axvline(0.0, color="tab:green", lw=0.8, ls=":")


def image_scale(kind: str, *blocks: np.ndarray) -> tuple[float, float, str]:
    """(vmin, vmax, cmap) shared by images of counts (from 0) or signals (symmetric)."""
    finite = np.concatenate([b[np.isfinite(b)].ravel() for b in blocks]) if blocks else np.zeros(1)
    if finite.size == 0:
        finite = np.zeros(1)
    if kind == "counts":
        return 0.0, max(1.0, float(np.percentile(finite, 99.5))), "Greys"
    bound = float(np.percentile(np.abs(finite), 99)) or 1.0
    return -bound, bound, "RdBu_r"


def channel_image(
    ax,
    values: np.ndarray,
    time: np.ndarray,
    heldout: np.ndarray,
    names: Sequence[str],
    vmin: float,
    vmax: float,
    cmap: str,
):
    """Draw (time, channel) values as a channel × time image, held-in channels first.

    Rows are labelled with channel names when there are few; a dashed line separates held-out
    channels.
    """
    order = channel_order(heldout)
    n_heldin = int((~heldout).sum())
    lo, hi = bin_edges(time)
    colormap = matplotlib.colormaps[cmap].with_extremes(bad=MASKED_COLOR)
    image = ax.imshow(
        values[:, order].T,
        aspect="auto",
        interpolation="nearest",
        origin="upper",
        extent=(lo, hi, len(order) - 0.5, -0.5),
        vmin=vmin,
        vmax=vmax,
        cmap=colormap,
    )
    if len(order) <= 24:
        ax.set_yticks(np.arange(len(order)), [names[c] for c in order], fontsize=7)
    if 0 < n_heldin < len(order):
        ax.axhline(n_heldin - 0.5, color=HELDOUT_COLOR, lw=1.0, ls="--")
    mark_alignment(ax, time)
    return image


def image_ylabel(heldout: np.ndarray, n_channels: int) -> str:
    what = "channel" if n_channels <= 24 else "channel (row)"
    return f"{what}: held-in, then held-out below dashed line" if heldout.any() else what


def count_colorbar(fig: Figure, image, axes: list) -> None:
    bar = fig.colorbar(image, ax=axes, label="spikes per bin", shrink=0.9)
    bar.locator = matplotlib.ticker.MaxNLocator(integer=True)
    bar.update_ticks()


def trace_offset(*blocks: np.ndarray) -> float:
    """Vertical spacing of stacked traces: 4 × the median per-channel standard deviation."""
    spreads = np.concatenate([np.nanstd(b, axis=0) for b in blocks if b.size]) if blocks else np.zeros(0)
    spreads = spreads[np.isfinite(spreads) & (spreads > 0)]
    return 4.0 * float(np.median(spreads)) if spreads.size else 1.0


def draw_traces(
    ax,
    time: np.ndarray,
    values: np.ndarray,
    shown: np.ndarray,
    offset: float,
    heldout: np.ndarray,
    names: Sequence[str],
) -> None:
    """Stack (time, channel) traces of the ``shown`` channels, each centred, ``offset`` apart."""
    for row, channel in enumerate(shown):
        trace = values[:, channel]
        if np.isfinite(trace).any():
            trace = trace - np.nanmean(trace)
        ax.plot(time, trace - row * offset, color=HELDOUT_COLOR if heldout[channel] else "black", lw=0.7)
    ax.set_yticks(-np.arange(len(shown)) * offset, [names[c] for c in shown], fontsize=7)
    ax.margins(x=0)
    mark_alignment(ax, time)


def heldout_legend(target, loc: str = "upper right") -> None:
    """Legend for held-in (black) vs held-out (red) traces on an Axes or a Figure."""
    target.legend(
        handles=[
            Line2D([], [], color="black", lw=1, label="held-in"),
            Line2D([], [], color=HELDOUT_COLOR, lw=1, label="held-out"),
        ],
        fontsize=7,
        loc=loc,
        ncol=2,
    )
