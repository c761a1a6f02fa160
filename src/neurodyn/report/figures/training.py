"""The training-curves figure: a model's objective, validation scores and learning rate per step."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures.style import FULL_WIDTH_IN, LABEL_FONT, SMALL_FONT, TITLE_FONT, new_figure

# series drawn with markers when they have at most this many finite points
MARKER_POINTS = 40
# at most this many series share one panel
MAX_PER_PANEL = 3
# a panel's y axis is logarithmic when its positive values span more than this ratio
LOG_SPAN = 100.0
# series of the same sign whose largest magnitudes differ by at most this factor share a scale
SCALE_RATIO = 3.0


def is_learning_rate(label: str) -> bool:
    """True for a series label that names a learning rate ("learning rate", "lr", "lr (decoder)")."""
    words = label.lower().replace("_", " ").replace("-", " ").replace("(", " ").split()
    return "lr" in words or "learning rate" in " ".join(words)


def training_panels(training: Mapping[str, Any]) -> list[list[str]]:
    """Series labels grouped into panels: every learning rate alone; other series share a panel
    (up to :data:`MAX_PER_PANEL`) when they have the same direction (``higher_is_better``) and a
    common scale: their finite value ranges overlap, or they have the same sign and their largest
    magnitudes differ by at most :data:`SCALE_RATIO`."""
    series = training.get("series") or {}
    direction = training.get("higher_is_better") or {}
    panels: list[list[str]] = []
    ranges: list[tuple[float, float]] = []
    for label, values in series.items():
        data = _as_floats(values)
        data = data[np.isfinite(data)]
        if is_learning_rate(label) or data.size == 0:
            panels.append([label])
            ranges.append((np.nan, np.nan))
            continue
        lo, hi = float(data.min()), float(data.max())
        for index, panel in enumerate(panels):
            first = panel[0]
            p_lo, p_hi = ranges[index]
            if (
                len(panel) < MAX_PER_PANEL
                and not is_learning_rate(first)
                and np.isfinite(p_lo)
                and direction.get(first) == direction.get(label)
                and _same_scale((lo, hi), (p_lo, p_hi))
            ):
                panel.append(label)
                ranges[index] = (min(lo, p_lo), max(hi, p_hi))
                break
        else:
            panels.append([label])
            ranges.append((lo, hi))
    return panels


def training_curves_figure(training: Mapping[str, Any]) -> Figure:
    """Training curves of one model, one panel per group of series.

    training: ``{"x": "epoch", "steps": [...] (S,), "series": {label: [...] (S,)},
    "higher_is_better": {label: bool}}``; values may be None or NaN (a validation score computed
    every few epochs, a diverged objective): the finite points of a series are joined, with
    markers when there are few. Series of the same direction and a similar range share a panel
    (:func:`training_panels`, e.g. training and validation objective); a learning rate gets its own
    panel on a logarithmic axis. The best value of each series with a known direction is starred.
    Raises ValueError without any series.
    """
    series = training.get("series") or {}
    if not series:
        raise ValueError("no training series to draw")
    x_label = str(training.get("x") or "step")
    direction = training.get("higher_is_better") or {}
    length = max(len(v) for v in series.values())
    steps = _as_floats(training.get("steps")) if training.get("steps") is not None else np.arange(length, dtype=float)
    panels = training_panels(training)
    n_cols = min(len(panels), 3)
    n_rows = int(np.ceil(len(panels) / n_cols))
    fig = new_figure(min(FULL_WIDTH_IN, 3.2 * n_cols + 0.6), 2.6 * n_rows + 0.4)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    colors = matplotlib.colormaps["tab10"]
    for ax, panel in zip(axes, panels):
        positive = []
        drawn = 0
        for index, label in enumerate(panel):
            values = _as_floats(series[label])
            n = min(values.size, steps.size)
            x, y = steps[:n], values[:n]
            keep = np.isfinite(x) & np.isfinite(y)
            if not keep.any():
                continue
            drawn += 1
            color = colors(index % 10)
            ax.plot(
                x[keep],
                y[keep],
                color=color,
                lw=1.4,
                marker="o" if keep.sum() <= MARKER_POINTS else None,
                ms=3,
                label=label,
            )
            positive.append(y[keep])
            better = direction.get(label)
            if better is not None and not is_learning_rate(label):
                best = int(np.argmax(y[keep]) if better else np.argmin(y[keep]))
                ax.plot(x[keep][best], y[keep][best], "*", color=color, ms=11, mec="black", mew=0.6, zorder=4)
        if drawn == 0:
            ax.text(0.5, 0.5, "no finite values", transform=ax.transAxes, ha="center", fontsize=LABEL_FONT)
        values = np.concatenate(positive) if positive else np.zeros(0)
        all_positive = values.size > 0 and bool((values > 0).all())
        if is_learning_rate(panel[0]):
            if all_positive:
                ax.set_yscale("log")
        elif all_positive and values.max() / values.min() > LOG_SPAN:
            ax.set_yscale("log")
        ax.set_title(_panel_title(panel, direction), fontsize=LABEL_FONT)
        ax.set_xlabel(x_label)
        ax.tick_params(labelsize=SMALL_FONT)
        if len(panel) > 1 and drawn:
            ax.legend(fontsize=SMALL_FONT)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle("Training curves (★ best value)", fontsize=TITLE_FONT)
    return fig


def _same_scale(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when two (min, max) ranges overlap, or have one sign and magnitudes within SCALE_RATIO."""
    if max(a[0], b[0]) <= min(a[1], b[1]):
        return True
    one_sign = (a[0] > 0 and b[0] > 0) or (a[1] < 0 and b[1] < 0)
    big_a, big_b = max(abs(a[0]), abs(a[1])), max(abs(b[0]), abs(b[1]))
    return one_sign and max(big_a, big_b) <= SCALE_RATIO * min(big_a, big_b)


def _panel_title(panel: Sequence[str], direction: Mapping[str, bool]) -> str:
    title = "\n".join(textwrap.wrap(" / ".join(panel), 36))
    better = direction.get(panel[0])
    if better is None or is_learning_rate(panel[0]):
        return title
    return f"{title}\n({'higher' if better else 'lower'} is better)"


def _as_floats(values: Any) -> np.ndarray:
    """(n,) float64 from a sequence that may hold None (→ NaN)."""
    if values is None:
        return np.zeros(0)
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
