"""The sweep figure: metrics against a swept option (points from :mod:`neurodyn.report.sweeps`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures.style import FULL_WIDTH_IN, SMALL_FONT, new_figure


def sweep_figure(panels: Sequence[tuple[str, dict[str, Sequence[Any]], Sequence[Any]]], x_label: str) -> Figure:
    """Metrics against a swept option, one panel per metric.

    panels: (metric label, {series label: points}, pooled points); a point has ``x``, ``mean``,
    ``sem`` (see :mod:`neurodyn.report.sweeps`). Series are thin lines, the pooled mean ± SEM bold.
    The x axis is logarithmic (symmetric-log when 0 is among the values) with a tick per value when
    positive values span more than a decade; the y axis is logarithmic when the values span more
    than two decades.
    """
    n = max(len(panels), 1)
    fig = new_figure(min(3.4 * n, FULL_WIDTH_IN), 3.3)
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (label, series, pooled) in zip(axes, panels):
        colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.85, max(len(series), 1)))
        if len(series) > 1:
            for color, (name, points) in zip(colors, series.items()):
                ax.plot(
                    [p.x for p in points],
                    [p.mean for p in points],
                    "o-",
                    color=color,
                    lw=0.8,
                    ms=3,
                    alpha=0.7,
                    label=name,
                )
        ax.errorbar(
            [p.x for p in pooled],
            [p.mean for p in pooled],
            yerr=[p.sem for p in pooled],
            fmt="s-",
            color="black",
            lw=1.8,
            ms=4,
            capsize=3,
            label="mean ± SEM" if len(series) > 1 else "mean ± SEM over replicates",
        )
        xs = np.unique(np.asarray([p.x for s in series.values() for p in s] + [p.x for p in pooled], dtype=float))
        positive = xs[xs > 0]
        if positive.size and positive.max() / positive.min() > 10:
            if (xs <= 0).any():
                ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.5)
            else:
                ax.set_xscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(xs))
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.xaxis.set_major_formatter(matplotlib.ticker.FixedFormatter([f"{x:.3g}" for x in xs]))
            ax.tick_params(axis="x", labelrotation=45, labelsize=SMALL_FONT)
        ys = np.asarray([p.mean for s in series.values() for p in s] + [p.mean for p in pooled], dtype=float)
        if ys.size and (ys > 0).all() and ys.max() / ys.min() > 100:
            ax.set_yscale("log")  # e.g. a normalised error that explodes for a few models
        ax.set_xlabel(x_label)
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=SMALL_FONT)
    return fig
