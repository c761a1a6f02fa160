"""Look and shared helpers of the report figures.

Scale and colours, :func:`figure_png` and :func:`new_figure`, condition labels and colours,
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

# Scale. Figure sizes are in inches of CSS_PX_PER_INCH CSS pixels: a page shows a figure at its
# natural CSS size (figure_css_size / png_css_size), one per row up to FULL_WIDTH_IN or two per
# row up to HALF_WIDTH_IN. PNGs are rendered at PNG_DPI = 2 × that scale, sharp on high-density
# screens. Text is at least SMALL_FONT points: 8 pt = 8/72 in = 11 CSS px, above the 10 CSS px
# (MIN_TEXT_PT = 7.2 pt) a reader needs.
CSS_PX_PER_INCH = 100
PNG_DPI = 200
DPI = CSS_PX_PER_INCH  # the figures' own dpi (on-screen size), kept for existing callers
FULL_WIDTH_IN = 10.0
HALF_WIDTH_IN = 4.9
MIN_TEXT_PT = 72.0 * 10 / CSS_PX_PER_INCH
SMALL_FONT = 8
LABEL_FONT = 9
TITLE_FONT = 10
STABLE_COLOR = "tab:blue"
UNSTABLE_COLOR = "tab:red"
RECORDED_COLOR = "black"
GENERATED_COLOR = "tab:orange"
HELDOUT_COLOR = "tab:red"
HELDIN_COLOR = "tab:blue"
MASKED_COLOR = "#cfe3f7"
UNOBSERVED_NOTE = "; pale blue: unobserved bins"


# ----------------------------------------------------------------------------- rendering


def figure_png(fig: Figure, *, dpi: float = PNG_DPI) -> bytes:
    """Render a figure to PNG bytes, at :data:`PNG_DPI` (2 × the CSS scale) unless told otherwise.

    The PNG is (width × dpi, height × dpi) pixels for a figure of (width, height) inches; show it
    at :func:`png_css_size` CSS pixels.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    """An empty figure of (width, height) inches (shown at 100 CSS px per inch) with constrained layout."""
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def square_panels_figure(
    n: int,
    *,
    panel: float = 2.9,
    left: float = 0.75,
    gap: float = 0.85,
    right: float = 0.25,
    top: float = 0.4,
    bottom: float = 0.55,
    legend_rows: int = 0,
) -> tuple[Figure, list]:
    """A figure of ``n`` square panels of ``panel`` inches in a row, at fixed positions.

    Margins are in inches (``left`` and ``gap`` hold tick labels and the y label, ``top`` the
    titles, ``bottom`` the x label), with room for ``legend_rows`` rows of a figure legend at the
    bottom (place it with ``loc="lower center"``). No layout engine: those fail to reserve room for
    titles above equal-aspect panels; with equal aspect set, the panels stay square.
    """
    legend = legend_rows * 0.19 + (0.1 if legend_rows else 0.0)
    width = left + n * panel + (n - 1) * gap + right
    height = top + panel + bottom + legend
    fig = Figure(figsize=(width, height), dpi=DPI)
    axes = [
        fig.add_axes(((left + i * (panel + gap)) / width, (bottom + legend) / height, panel / width, panel / height))
        for i in range(n)
    ]
    return fig, axes


def figure_css_size(fig: Figure) -> tuple[int, int]:
    """(width, height) in CSS pixels at which ``fig`` is meant to be shown."""
    width, height = fig.get_size_inches()
    return round(width * CSS_PX_PER_INCH), round(height * CSS_PX_PER_INCH)


def png_css_size(png: bytes, *, dpi: float = PNG_DPI) -> tuple[int, int]:
    """(width, height) in CSS pixels at which PNG bytes rendered at ``dpi`` are meant to be shown.

    Read from the PNG header (IHDR); raises ValueError for bytes that are not a PNG.
    """
    if len(png) < 24 or png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    scale = CSS_PX_PER_INCH / dpi
    return round(width * scale), round(height * scale)


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
        ax.set_yticks(np.arange(len(order)), [names[c] for c in order], fontsize=SMALL_FONT)
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
    ax.set_yticks(-np.arange(len(shown)) * offset, [names[c] for c in shown], fontsize=SMALL_FONT)
    ax.margins(x=0)
    mark_alignment(ax, time)


def heldout_legend(target, loc: str = "upper right") -> None:
    """Legend for held-in (black) vs held-out (red) traces on an Axes or a Figure."""
    target.legend(
        handles=[
            Line2D([], [], color="black", lw=1, label="held-in"),
            Line2D([], [], color=HELDOUT_COLOR, lw=1, label="held-out"),
        ],
        fontsize=SMALL_FONT,
        loc=loc,
        ncol=2,
    )
