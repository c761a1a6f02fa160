"""Dataset figures and the dataset readers they use.

Readers of the binned dataset (``data (trial, time, channel)`` with its coordinates and attrs):
kind, time label, held-out mask, channel names, example trials, trial titles, per-channel means
and variances. Figures: example trials (:func:`raster_figure`: count images or a trace stack),
the rate histogram, the channel variance bars and the condition-averaged activity (PSTH).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.ndimage import gaussian_filter1d

from neurodyn.report.figures.style import (
    HELDIN_COLOR,
    HELDOUT_COLOR,
    SMALL_FONT,
    UNOBSERVED_NOTE,
    channel_image,
    condition_colors,
    condition_labels,
    count_colorbar,
    draw_traces,
    has_conditions,
    heldout_legend,
    image_scale,
    image_ylabel,
    mark_alignment,
    new_figure,
    sorted_conditions,
    trace_offset,
)

PSTH_SMOOTHING_S = 0.025


# ----------------------------------------------------------------------------- reading a dataset


def data_kind(ds: xr.Dataset) -> str:
    """'counts' or 'continuous', from the ``kind`` attr of ``data``."""
    return str(ds["data"].attrs.get("kind", "counts"))


def time_label(ds: xr.Dataset) -> str:
    event = ds.attrs.get("align_event")
    return f"time from {event} (s)" if event else "time (s)"


def heldout_mask(ds: xr.Dataset) -> np.ndarray:
    """(channel,) bool: True for held-out channels (all False without the coordinate)."""
    if "heldout" in ds.coords:
        return np.asarray(ds["heldout"].values, dtype=bool)
    return np.zeros(ds.sizes["channel"], dtype=bool)


def channel_names(ds: xr.Dataset) -> list[str]:
    """A readable name per channel: ``channel_name`` where present, else the channel id."""
    source = ds["channel_name"] if "channel_name" in ds.coords else ds["channel"]
    return [str(v) for v in np.asarray(source.values).tolist()]


def example_trials(ds: xr.Dataset, n: int = 3) -> list[int]:
    """Positional indices of up to ``n`` trials, one per condition where conditions exist."""
    n_trials = ds.sizes["trial"]
    labels = condition_labels(ds["condition"].values if "condition" in ds else None, n_trials)
    if not has_conditions(labels):
        return list(range(min(n, n_trials)))
    chosen: list[int] = []
    for condition in sorted_conditions(labels):
        chosen.append(int(np.flatnonzero(labels == condition)[0]))
        if len(chosen) == n:
            break
    return chosen


def channel_means(ds: xr.Dataset) -> np.ndarray:
    """(channel,) mean of ``data`` over observed bins (counts: in Hz)."""
    values = ds["data"].values.astype(np.float64)
    observed = ds["mask"].values if "mask" in ds else np.ones(values.shape, bool)
    n_obs = observed.sum(axis=(0, 1))
    means = np.where(n_obs > 0, (values * observed).sum(axis=(0, 1)) / np.maximum(n_obs, 1), np.nan)
    if data_kind(ds) == "counts":
        means = means / float(ds.attrs.get("bin_size_s", 1.0))
    return means


def channel_variances(ds: xr.Dataset) -> np.ndarray:
    """(channel,) variance of ``data`` over observed bins."""
    values = ds["data"].values.astype(np.float64)
    observed = ds["mask"].values if "mask" in ds else np.ones(values.shape, bool)
    masked = np.where(observed, values, np.nan).reshape(-1, values.shape[-1])
    out = np.full(values.shape[-1], np.nan)
    seen = observed.reshape(-1, values.shape[-1]).any(axis=0)
    out[seen] = np.nanvar(masked[:, seen], axis=0)
    return out


def trial_title(ds: xr.Dataset, index: int) -> str:
    parts = [f"trial {ds['trial'].values[index]}"]
    if "condition" in ds and str(ds["condition"].values[index]) != "":
        parts.append(f"condition {ds['condition'].values[index]}")
    if "split" in ds:
        parts.append(str(ds["split"].values[index]))
    return ", ".join(parts)


# ----------------------------------------------------------------------------- dataset figures


def raster_figure(ds: xr.Dataset, trials: Sequence[int] | None = None) -> Figure:
    """Example trials of a dataset: counts as channel × time images, continuous data as traces.

    ds: the binned dataset, ``data (trial, time, channel)``; trials: positional trial indices
    (default: up to three, one per condition).
    """
    trials = list(trials) if trials is not None else example_trials(ds, 3 if data_kind(ds) == "counts" else 1)
    if data_kind(ds) == "counts":
        return _count_raster(ds, trials)
    return _trace_stack(ds, trials[0])


def _count_raster(ds: xr.Dataset, trials: list[int]) -> Figure:
    time = ds["time"].values
    heldout = heldout_mask(ds)
    names = channel_names(ds)
    blocks = []
    for index in trials:
        values = ds["data"].values[index].astype(np.float64)
        if "mask" in ds:
            values = np.where(ds["mask"].values[index], values, np.nan)
        blocks.append(values)
    vmin, vmax, cmap = image_scale("counts", *blocks)
    fig = new_figure(2.6 * len(trials) + 1.4, 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(trials), sharey=True))
    image = None
    for ax, index, values in zip(axes, trials, blocks):
        image = channel_image(ax, values, time, heldout, names, vmin, vmax, cmap)
        ax.set_title(trial_title(ds, index), fontsize=9)
        ax.set_xlabel(time_label(ds), fontsize=8)
    axes[0].set_ylabel(image_ylabel(heldout, len(names)), fontsize=8)
    if image is not None:
        count_colorbar(fig, image, list(axes))
    unobserved = any(np.isnan(b).any() for b in blocks)
    fig.suptitle("Example trials (spike counts)" + (UNOBSERVED_NOTE if unobserved else ""), fontsize=10)
    return fig


def _trace_stack(ds: xr.Dataset, index: int, max_channels: int = 8) -> Figure:
    heldout = heldout_mask(ds)
    units = str(ds["data"].attrs.get("units", "a.u."))
    values = ds["data"].values[index].astype(np.float64)
    if "mask" in ds:
        values = np.where(ds["mask"].values[index], values, np.nan)
    shown = np.arange(min(max_channels, values.shape[1]))
    offset = trace_offset(values[:, shown])
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    draw_traces(ax, ds["time"].values, values, shown, offset, heldout, channel_names(ds))
    ax.set_xlabel(time_label(ds))
    ax.set_ylabel(f"channel (traces offset by {offset:.3g} {units})")
    ax.set_title(f"Example segment: {trial_title(ds, index)}", fontsize=10)
    if heldout[shown].any():
        heldout_legend(fig, "outside lower center")
    return fig


def rate_histogram_figure(ds: xr.Dataset) -> Figure:
    """Histogram of per-channel mean firing rates (Hz) of a counts dataset, held-in vs held-out."""
    rates = channel_means(ds)
    heldout = heldout_mask(ds)
    finite = rates[np.isfinite(rates)]
    edges = np.linspace(0.0, max(1.0, float(finite.max()) if finite.size else 1.0) * 1.02, 21)
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    groups = [rates[~heldout & np.isfinite(rates)], rates[heldout & np.isfinite(rates)]]
    ax.hist(
        groups,
        bins=edges,
        stacked=True,
        color=[HELDIN_COLOR, HELDOUT_COLOR],
        label=[f"held-in ({groups[0].size})", f"held-out ({groups[1].size})"],
    )
    ax.set_xlabel("mean firing rate (Hz)")
    ax.set_ylabel("number of channels")
    ax.set_title(
        f"Per-channel firing rates (median {np.median(finite) if finite.size else np.nan:.2f} Hz)", fontsize=10
    )
    ax.legend(fontsize=8)
    return fig


def channel_variance_figure(ds: xr.Dataset) -> Figure:
    """Per-channel variance of a continuous dataset (units²), held-in vs held-out."""
    variances = channel_variances(ds)
    heldout = heldout_mask(ds)
    names = channel_names(ds)
    units = str(ds["data"].attrs.get("units", "a.u."))
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    positions = np.arange(variances.size)
    ax.bar(positions, np.nan_to_num(variances), color=np.where(heldout, HELDOUT_COLOR, HELDIN_COLOR))
    if variances.size <= 32:
        ax.set_xticks(positions, names, rotation=90 if variances.size > 12 else 0, fontsize=SMALL_FONT)
    ax.set_xlabel("channel")
    ax.set_ylabel(f"variance ({units}²)")
    ax.set_title("Per-channel variance", fontsize=10)
    if heldout.any():
        ax.legend(
            handles=[Patch(color=HELDIN_COLOR, label="held-in"), Patch(color=HELDOUT_COLOR, label="held-out")],
            fontsize=8,
        )
    return fig


def psth_figure(ds: xr.Dataset, n_channels: int = 4) -> Figure:
    """Condition-averaged activity of the ``n_channels`` most active held-in channels.

    Counts are shown as rates in Hz, Gaussian-smoothed (σ = 25 ms) for display; continuous data as
    the condition mean of the signal. Needs ``condition (trial)``.
    """
    labels = condition_labels(ds["condition"].values if "condition" in ds else None, ds.sizes["trial"])
    conditions = sorted_conditions(labels)
    if not conditions:
        raise ValueError("the dataset has no condition labels")
    kind = data_kind(ds)
    bin_size = float(ds.attrs.get("bin_size_s", 1.0))
    time = ds["time"].values
    heldout = heldout_mask(ds)
    score = channel_means(ds) if kind == "counts" else channel_variances(ds)
    score = np.where(np.isfinite(score), score, -np.inf)
    candidates = np.flatnonzero(~heldout) if (~heldout).any() else np.arange(score.size)
    shown = candidates[np.argsort(-score[candidates], kind="stable")][:n_channels]
    values = ds["data"].values.astype(np.float64)
    observed = ds["mask"].values if "mask" in ds else np.ones(values.shape, bool)
    colors = condition_colors(conditions)
    names = channel_names(ds)
    n_cols = 2 if len(shown) > 1 else 1
    n_rows = int(np.ceil(len(shown) / n_cols))
    fig = new_figure(6.4 + 1.2, 2.0 * n_rows + 0.6)
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, sharex=True, squeeze=False)).ravel()
    for ax, channel in zip(axes, shown):
        for condition in conditions:
            rows = labels == condition
            seen = observed[rows, :, channel]
            total = (values[rows, :, channel] * seen).sum(0)
            count = seen.sum(0)
            mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            if kind == "counts":
                mean = gaussian_filter1d(np.nan_to_num(mean), PSTH_SMOOTHING_S / bin_size) / bin_size
            ax.plot(time, mean, color=colors[condition], lw=1.2, label=condition)
        mark_alignment(ax, time)
        ax.set_title(f"channel {names[channel]}", fontsize=9)
        ax.tick_params(labelsize=SMALL_FONT)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    units = "firing rate (Hz)" if kind == "counts" else f"signal ({ds['data'].attrs.get('units', 'a.u.')})"
    for ax in axes[::n_cols]:
        ax.set_ylabel(units, fontsize=8)
    for ax in axes[max(0, len(shown) - n_cols) : len(shown)]:
        ax.set_xlabel(time_label(ds), fontsize=8)
    handles, names_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, names_, title="condition", fontsize=SMALL_FONT, title_fontsize=8, loc="outside right upper")
    fig.suptitle("Condition-averaged activity" + (" (σ = 25 ms smoothing)" if kind == "counts" else ""), fontsize=10)
    return fig
