"""Predicted vs recorded peri-stimulus time histograms (PSTHs) per condition.

:func:`condition_psths` averages (trial, time, channel) values over the observed bins of each
condition's trials; :func:`best_units` picks the units to show; :func:`psth_comparison_figure`
draws recorded (solid) and predicted (dashed) PSTHs, one small panel per unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.ndimage import gaussian_filter1d

from neurodyn.report.figures.style import (
    FULL_WIDTH_IN,
    LABEL_FONT,
    SMALL_FONT,
    TITLE_FONT,
    condition_colors,
    condition_labels,
    has_conditions,
    mark_alignment,
    new_figure,
    sorted_conditions,
)

ALL_TRIALS = "all trials"
# beyond this many conditions the legend names none of them (the colours still differ)
MAX_LEGEND_CONDITIONS = 12


def condition_psths(
    values: np.ndarray,
    mask: np.ndarray | None,
    conditions: Any,
    *,
    smooth_bins: float = 0.0,
    scale: float = 1.0,
) -> tuple[list[str], np.ndarray]:
    """Condition-averaged activity over observed bins.

    values: (trial, time, channel); mask: (trial, time, channel) bool, True where observed (None:
    all; non-finite values count as unobserved too); conditions: (trial,) labels (None or all ''
    → one group, ``"all trials"``); smooth_bins: σ of a Gaussian along time, in bins (0: none),
    applied as a normalised convolution so that unobserved bins and the window's edges do not
    pull the mean towards 0; scale: factor on the result (1 / bin width turns counts per bin
    into spikes/s).

    Returns (condition names (C,), numerically sorted where they are numbers; PSTHs (C, time,
    channel)), NaN where a condition has no observed bin nearby.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3:
        raise ValueError(f"values must be (trial, time, channel), got shape {values.shape}")
    observed = np.isfinite(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(f"mask shape {mask.shape} differs from values shape {values.shape}")
        observed &= mask
    labels = condition_labels(conditions, values.shape[0])
    if has_conditions(labels):
        names = sorted_conditions(labels)
        groups = [labels == name for name in names]
    else:
        names = [ALL_TRIALS]
        groups = [np.ones(values.shape[0], dtype=bool)]
    filled = np.where(observed, values, 0.0)
    out = np.full((len(names), values.shape[1], values.shape[2]), np.nan)
    for index, rows in enumerate(groups):
        total = filled[rows].sum(axis=0)  # (time, channel)
        count = observed[rows].sum(axis=0).astype(np.float64)
        if smooth_bins > 0:
            total = gaussian_filter1d(total, smooth_bins, axis=0, mode="constant")
            count = gaussian_filter1d(count, smooth_bins, axis=0, mode="constant")
        seen = count > 1e-9 * max(1.0, float(count.max(initial=0.0)))
        out[index][seen] = scale * total[seen] / count[seen]
    return names, out


def best_units(r2: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` units with the highest finite score, best first (ties: lower index first).

    r2: (N,) per-unit score (e.g. PSTH R²; NaN for units without one) → (≤ k,) int.
    """
    r2 = np.asarray(r2, dtype=np.float64).ravel()
    finite = np.flatnonzero(np.isfinite(r2))
    order = finite[np.argsort(-r2[finite], kind="stable")]
    return order[: max(int(k), 0)]


def psth_comparison_figure(
    time: np.ndarray,
    recorded: np.ndarray,
    predicted: np.ndarray,
    conditions: Sequence[str],
    units: Sequence[str],
    *,
    rate_units: str = "spikes/s",
    time_axis_label: str = "time (s)",
    scores: Sequence[float] | None = None,
    score_label: str = "R²",
) -> Figure:
    """Predicted vs recorded PSTHs per condition, one small panel per unit.

    time: (T,) s; recorded, predicted: (C, T, N) condition-averaged activity in ``rate_units``
    (e.g. from :func:`condition_psths`; NaN where unobserved); conditions: (C,) names; units:
    (N,) unit names; scores: (N,) optional per-unit score written in the panel titles as
    ``score_label``. Conditions are colours, recorded solid, predicted dashed. The caller picks
    the few units (:func:`best_units`).
    """
    time = np.asarray(time, dtype=np.float64)
    recorded = np.asarray(recorded, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if recorded.ndim != 3 or recorded.shape != predicted.shape:
        raise ValueError(f"recorded {recorded.shape} and predicted {predicted.shape} must both be (C, T, N)")
    n_conditions, n_time, n_units = recorded.shape
    if time.shape != (n_time,) or len(conditions) != n_conditions or len(units) != n_units or n_units == 0:
        raise ValueError(
            f"time {time.shape}, {len(conditions)} conditions and {len(units)} units do not match "
            f"arrays of shape (C, T, N) = {recorded.shape}"
        )
    names = [str(c) for c in conditions]
    colors = condition_colors(names)
    n_cols = min(n_units, 4 if n_units > 6 else 3)
    n_rows = int(np.ceil(n_units / n_cols))
    fig = new_figure(min(FULL_WIDTH_IN, 2.5 * n_cols + 1.8), 2.1 * n_rows + 0.7)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, sharex=True, squeeze=False)).ravel()
    for unit, ax in enumerate(axes[:n_units]):
        for c, name in enumerate(names):
            ax.plot(time, recorded[c, :, unit], color=colors[name], lw=1.3)
            ax.plot(time, predicted[c, :, unit], color=colors[name], lw=1.3, ls="--")
        mark_alignment(ax, time)
        title = f"unit {units[unit]}"
        if scores is not None and unit < len(scores) and scores[unit] is not None and np.isfinite(scores[unit]):
            title += f", {score_label} = {float(scores[unit]):.2f}"
        ax.set_title(title, fontsize=LABEL_FONT)
        ax.tick_params(labelsize=SMALL_FONT)
        ax.margins(x=0)
    for ax in axes[n_units:]:
        ax.set_visible(False)
    what = f"rate ({rate_units})" if "/s" in rate_units or "Hz" in rate_units else f"mean ({rate_units})"
    for ax in axes[:n_units:n_cols]:
        ax.set_ylabel(what, fontsize=LABEL_FONT)
    for ax in axes[max(0, n_units - n_cols) : n_units]:
        ax.set_xlabel(time_axis_label, fontsize=LABEL_FONT)
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = [
        Line2D([], [], color="black", lw=1.3, label="recorded"),
        Line2D([], [], color="black", lw=1.3, ls="--", label="predicted"),
    ]
    if n_conditions <= MAX_LEGEND_CONDITIONS:
        handles += [Line2D([], [], color=colors[name], lw=2.0, label=name) for name in names]
    else:
        handles.append(Line2D([], [], color="0.6", lw=2.0, label=f"{n_conditions} conditions (colours)"))
    fig.legend(handles=handles, fontsize=SMALL_FONT, loc="outside right upper")
    fig.suptitle("Recorded (solid) vs predicted (dashed) PSTHs per condition", fontsize=TITLE_FONT)
    return fig
