"""Figures of a neurodyn report.

Every figure function takes arrays or xarray objects and returns a :class:`matplotlib.figure.Figure`
built with matplotlib's object API (no pyplot, so importing this module never changes a
user's backend or registers global figures); :func:`figure_png` renders one to PNG bytes. Shapes are given in the docstrings; nothing here computes more than a figure needs (the only
"analysis" is a PCA projection of latents to two dimensions for plotting).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib
import matplotlib.cm
import matplotlib.colors
import matplotlib.ticker
import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy.ndimage import gaussian_filter1d

DPI = 100
STABLE_COLOR = "tab:blue"
UNSTABLE_COLOR = "tab:red"
RECORDED_COLOR = "black"
GENERATED_COLOR = "tab:orange"
HELDOUT_COLOR = "tab:red"
HELDIN_COLOR = "tab:blue"
MASKED_COLOR = "#cfe3f7"
PSTH_SMOOTHING_S = 0.025
UNOBSERVED_NOTE = "; pale blue: unobserved bins"


# ----------------------------------------------------------------------------- rendering


def figure_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """Render a figure to PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


# ----------------------------------------------------------------------------- small helpers


def data_kind(ds: xr.Dataset) -> str:
    """'counts' or 'continuous', from the ``kind`` attr of ``data``."""
    return str(ds["data"].attrs.get("kind", "counts"))


def time_label(ds: xr.Dataset) -> str:
    event = ds.attrs.get("align_event")
    return f"time from {event} (s)" if event else "time (s)"


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


def heldout_mask(ds: xr.Dataset) -> np.ndarray:
    """(channel,) bool: True for held-out channels (all False without the coordinate)."""
    if "heldout" in ds.coords:
        return np.asarray(ds["heldout"].values, dtype=bool)
    return np.zeros(ds.sizes["channel"], dtype=bool)


def channel_order(heldout: np.ndarray) -> np.ndarray:
    """(channel,) indices putting held-in channels first, then held-out ones."""
    return np.concatenate([np.flatnonzero(~heldout), np.flatnonzero(heldout)])


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


def _bin_edges(time: np.ndarray) -> tuple[float, float]:
    """Outer edges of bins centred at ``time`` (s)."""
    step = float(np.median(np.diff(time))) if time.size > 1 else 1.0
    return float(time[0] - step / 2), float(time[-1] + step / 2)


def _mark_alignment(ax, time: np.ndarray) -> None:
    """Dotted green line at t = 0 (the alignment event) when it lies strictly inside the window."""
    lo, hi = _bin_edges(time)
    step = (hi - lo) / max(time.size, 1)
    if lo < -1e-6 * step and hi > 1e-6 * step:
        ax.axvline(0.0, color="tab:green", lw=0.8, ls=":")


def _image_scale(kind: str, *blocks: np.ndarray) -> tuple[float, float, str]:
    """(vmin, vmax, cmap) shared by images of counts (from 0) or signals (symmetric)."""
    finite = np.concatenate([b[np.isfinite(b)].ravel() for b in blocks]) if blocks else np.zeros(1)
    if finite.size == 0:
        finite = np.zeros(1)
    if kind == "counts":
        return 0.0, max(1.0, float(np.percentile(finite, 99.5))), "Greys"
    bound = float(np.percentile(np.abs(finite), 99)) or 1.0
    return -bound, bound, "RdBu_r"


def _channel_image(
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
    lo, hi = _bin_edges(time)
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
    _mark_alignment(ax, time)
    return image


def _image_ylabel(heldout: np.ndarray, n_channels: int) -> str:
    what = "channel" if n_channels <= 24 else "channel (row)"
    return f"{what}: held-in, then held-out below dashed line" if heldout.any() else what


def trace_offset(*blocks: np.ndarray) -> float:
    """Vertical spacing of stacked traces: 4 × the median per-channel standard deviation."""
    spreads = np.concatenate([np.nanstd(b, axis=0) for b in blocks if b.size]) if blocks else np.zeros(0)
    spreads = spreads[np.isfinite(spreads) & (spreads > 0)]
    return 4.0 * float(np.median(spreads)) if spreads.size else 1.0


def _draw_traces(
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
    _mark_alignment(ax, time)


def _heldout_legend(target, loc: str = "upper right") -> None:
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


def _count_colorbar(fig: Figure, image, axes: list) -> None:
    bar = fig.colorbar(image, ax=axes, label="spikes per bin", shrink=0.9)
    bar.locator = matplotlib.ticker.MaxNLocator(integer=True)
    bar.update_ticks()


def trial_title(ds: xr.Dataset, index: int) -> str:
    parts = [f"trial {ds['trial'].values[index]}"]
    if "condition" in ds and str(ds["condition"].values[index]) != "":
        parts.append(f"condition {ds['condition'].values[index]}")
    if "split" in ds:
        parts.append(str(ds["split"].values[index]))
    return ", ".join(parts)


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
    vmin, vmax, cmap = _image_scale("counts", *blocks)
    fig = new_figure(2.6 * len(trials) + 1.4, 4.0)
    axes = np.atleast_1d(fig.subplots(1, len(trials), sharey=True))
    image = None
    for ax, index, values in zip(axes, trials, blocks):
        image = _channel_image(ax, values, time, heldout, names, vmin, vmax, cmap)
        ax.set_title(trial_title(ds, index), fontsize=9)
        ax.set_xlabel(time_label(ds), fontsize=8)
    axes[0].set_ylabel(_image_ylabel(heldout, len(names)), fontsize=8)
    if image is not None:
        _count_colorbar(fig, image, list(axes))
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
    _draw_traces(ax, ds["time"].values, values, shown, offset, heldout, channel_names(ds))
    ax.set_xlabel(time_label(ds))
    ax.set_ylabel(f"channel (traces offset by {offset:.3g} {units})")
    ax.set_title(f"Example segment: {trial_title(ds, index)}", fontsize=10)
    if heldout[shown].any():
        _heldout_legend(fig, "outside lower center")
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
        ax.set_xticks(positions, names, rotation=90 if variances.size > 12 else 0, fontsize=7)
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
        _mark_alignment(ax, time)
        ax.set_title(f"channel {names[channel]}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(shown) :]:
        ax.set_visible(False)
    units = "firing rate (Hz)" if kind == "counts" else f"signal ({ds['data'].attrs.get('units', 'a.u.')})"
    for ax in axes[::n_cols]:
        ax.set_ylabel(units, fontsize=8)
    for ax in axes[max(0, len(shown) - n_cols) : len(shown)]:
        ax.set_xlabel(time_label(ds), fontsize=8)
    handles, names_ = axes[0].get_legend_handles_labels()
    fig.legend(handles, names_, title="condition", fontsize=7, title_fontsize=8, loc="outside right upper")
    fig.suptitle("Condition-averaged activity" + (" (σ = 25 ms smoothing)" if kind == "counts" else ""), fontsize=10)
    return fig


# ----------------------------------------------------------------------------- model figures


def recorded_vs_generated_figure(
    recorded: np.ndarray,
    generated: np.ndarray,
    time: np.ndarray,
    *,
    kind: str,
    heldout: np.ndarray | None = None,
    units: str = "",
    names: Sequence[str] | None = None,
    time_axis_label: str = "time (s)",
    recorded_title: str = "recorded",
    generated_title: str = "generated",
    max_traces: int = 8,
) -> Figure:
    """One recorded and one generated trial side by side, on one shared scale.

    Counts: channel × time images with one colour scale; continuous: stacked traces of up to
    ``max_traces`` channels with one vertical offset. recorded, generated: (time, channel)
    (recorded may hold NaN for unobserved bins); time: (time,) s; heldout: (channel,) bool;
    names: (channel,) labels.
    """
    recorded = np.asarray(recorded, dtype=np.float64)
    generated = np.asarray(generated, dtype=np.float64)
    n_channels = recorded.shape[1]
    heldout = np.zeros(n_channels, bool) if heldout is None else np.asarray(heldout, bool)
    names = [str(c) for c in range(n_channels)] if names is None else list(names)
    fig = new_figure(7.6, 4.0)
    axes = fig.subplots(1, 2, sharey=True, sharex=True)
    if kind == "counts":
        vmin, vmax, cmap = _image_scale(kind, recorded, generated)
        image = None
        for ax, values in zip(axes, (recorded, generated)):
            image = _channel_image(ax, values, time, heldout, names, vmin, vmax, cmap)
        axes[0].set_ylabel(_image_ylabel(heldout, n_channels), fontsize=8)
        _count_colorbar(fig, image, list(axes))
    else:
        shown = np.arange(min(max_traces, n_channels))
        offset = trace_offset(recorded[:, shown], generated[:, shown])
        for ax, values in zip(axes, (recorded, generated)):
            _draw_traces(ax, time, values, shown, offset, heldout, names)
        axes[0].set_ylabel(f"channel (traces offset by {offset:.3g} {units or 'a.u.'})", fontsize=8)
        if heldout[shown].any():
            _heldout_legend(fig, "outside lower center")
    for ax, title in zip(axes, (recorded_title, generated_title)):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(time_axis_label, fontsize=8)
    unobserved = kind == "counts" and bool(np.isnan(recorded).any())
    fig.suptitle("Recorded vs generated activity (same scale)" + (UNOBSERVED_NOTE if unobserved else ""), fontsize=10)
    return fig


def pca_projection(latents: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of latent states, for plotting.

    latents: (sample, latent) → (mean (latent,), axes (latent, k), explained variance ratio (k,)).
    With fewer than k latent dimensions the missing axes are zero (their ratio is 0).
    """
    x = np.asarray(latents, dtype=np.float64)
    x = x[np.all(np.isfinite(x), axis=1)]
    n_latent = latents.shape[1]
    if x.shape[0] == 0:
        return np.zeros(n_latent), np.eye(n_latent, k), np.zeros(k)
    mean = x.mean(0)
    _, singular, vt = np.linalg.svd(x - mean, full_matrices=False)
    power = singular**2
    ratio = power / power.sum() if power.sum() > 0 else np.zeros_like(power)
    axes = np.zeros((n_latent, k))
    explained = np.zeros(k)
    m = min(k, vt.shape[0])
    axes[:, :m] = vt[:m].T
    explained[:m] = ratio[:m]
    return mean, axes, explained


def latent_trajectories_figure(
    latents: np.ndarray,
    conditions: np.ndarray | None = None,
    fixed_points: Sequence[dict] = (),
    *,
    title: str = "Latent trajectories",
    max_trials: int = 60,
    time: np.ndarray | None = None,
    expansion_points: np.ndarray | None = None,
) -> Figure:
    """Posterior latent trajectories in the plane of their first two principal components.

    latents: (trial, time, latent); conditions: (trial,) labels ('' or None = none); fixed_points:
    dicts with ``z`` (latent,) and ``stable``, projected with the same projection (filled marker =
    stable, open = unstable). With conditions: thin lines for single trials, thick lines for
    condition means (circle at the start); without: up to ``max_trials`` single trials.
    A single latent dimension is drawn against time (s, from ``time`` (time,), else bins), its
    fixed points as horizontal lines (solid = stable, dashed = unstable). expansion_points:
    (..., latent) expansion points the model linearises around, drawn as small grey crosses in the same projection.
    """
    latents = np.asarray(latents, dtype=np.float64)
    n_trials, _, n_latent = latents.shape
    labels = condition_labels(conditions, n_trials)
    mean, axes, explained = pca_projection(latents.reshape(-1, n_latent))
    projected = (latents - mean) @ axes  # (trial, time, 2)
    one_dim = n_latent == 1
    if one_dim:
        clock = np.arange(latents.shape[1], dtype=np.float64) if time is None else np.asarray(time, np.float64)
        projected = np.stack([np.broadcast_to(clock, latents.shape[:2]), latents[..., 0]], axis=-1)
    fig = new_figure(6.8, 4.6)
    ax = fig.subplots()
    handles: list[Any] = []
    shown = np.arange(min(n_trials, max_trials))
    if has_conditions(labels):
        groups = sorted_conditions(labels)
        colors = condition_colors(groups)
        for trial in shown:
            ax.plot(
                projected[trial, :, 0],
                projected[trial, :, 1],
                color=colors.get(labels[trial], "0.6"),
                lw=0.6,
                alpha=0.35,
            )
        for group in groups:
            path = np.nanmean(projected[labels == group], axis=0)
            ax.plot(path[:, 0], path[:, 1], color=colors[group], lw=2.4)
            ax.plot(path[0, 0], path[0, 1], "o", color=colors[group], ms=5)
            handles.append(Line2D([], [], color=colors[group], lw=2.4, label=f"condition {group}"))
        handles.append(Line2D([], [], color="0.5", lw=0.6, label="single trials"))
        handles.append(Line2D([], [], marker="o", color="0.3", ls="none", ms=5, label="start of mean"))
    else:
        colors = condition_colors([str(t) for t in shown])
        for trial in shown:
            ax.plot(projected[trial, :, 0], projected[trial, :, 1], color=colors[str(trial)], lw=0.8, alpha=0.7)
            ax.plot(projected[trial, 0, 0], projected[trial, 0, 1], "o", color=colors[str(trial)], ms=4)
        handles.append(Line2D([], [], color="0.3", lw=0.8, label=f"single trials ({len(shown)})"))
        handles.append(Line2D([], [], marker="o", color="0.3", ls="none", ms=4, label="trial start"))
    if expansion_points is not None and not one_dim:
        e = np.asarray(expansion_points, dtype=np.float64).reshape(-1, n_latent)
        e = e[np.isfinite(e).all(axis=1)]
        if len(e):
            xy = (e - mean) @ axes
            ax.plot(xy[:, 0], xy[:, 1], "x", color="0.45", ms=3, mew=0.6, ls="none", zorder=4)
            handles.append(Line2D([], [], marker="x", color="0.45", ls="none", ms=4, label="expansion points"))
    drawn = {True: False, False: False}
    for point in fixed_points:
        z = np.asarray(point.get("z", []), dtype=np.float64)
        if z.shape != (n_latent,) or not np.all(np.isfinite(z)):
            continue
        stable = bool(point.get("stable", False))
        if one_dim:
            ax.axhline(z[0], color="black", lw=1.5, ls="-" if stable else "--")
            drawn[stable] = True
            continue
        xy = (z - mean) @ axes
        ax.plot(
            xy[0],
            xy[1],
            marker="o",
            ms=10,
            mew=2,
            color="black",
            markerfacecolor="black" if stable else "none",
            ls="none",
            zorder=5,
        )
        drawn[stable] = True
    if drawn[True]:
        handles.append(
            Line2D([], [], color="black", lw=1.5, label="stable fixed point")
            if one_dim
            else Line2D([], [], marker="o", ms=9, color="black", ls="none", label="stable fixed point")
        )
    if drawn[False]:
        handles.append(
            Line2D([], [], color="black", lw=1.5, ls="--", label="unstable fixed point")
            if one_dim
            else Line2D(
                [],
                [],
                marker="o",
                ms=9,
                mew=2,
                color="black",
                markerfacecolor="none",
                ls="none",
                label="unstable fixed point",
            )
        )
    fig.legend(handles=handles, fontsize=7, loc="outside right upper")
    if one_dim:
        ax.set_xlabel("time (s)" if time is not None else "time (bins)")
        ax.set_ylabel("latent (a.u.)")
    else:
        ax.set_xlabel(f"latent PC 1 (a.u., {100 * explained[0]:.0f}% of variance)")
        ax.set_ylabel(f"latent PC 2 (a.u., {100 * explained[1]:.0f}% of variance)")
    ax.set_title(f"{title} ({n_trials} trials)", fontsize=10)
    return fig


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
    fig = new_figure(7.6, 4.0)
    full, zoom = fig.subplots(1, 2)
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 400))
    markers = "osD^v<>ph*"
    all_values = []
    for ax in (full, zoom):
        ax.plot(circle.real, circle.imag, color="0.5", lw=0.8)
        ax.axhline(0, color="0.85", lw=0.6)
        ax.axvline(0, color="0.85", lw=0.6)
    for index, point in enumerate(fixed_points):
        values = complex_values(point.get("eigenvalues", []))
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
        first = next(p for p in fixed_points if len(p.get("eigenvalues", []) or []) > 0)
        _annotate_modes(zoom, first, n_annotate)
        values = np.concatenate(all_values)
        lo_x, hi_x = float(values.real.min()), float(values.real.max())
        lo_y, hi_y = float(values.imag.min()), float(values.imag.max())
        pad = max(0.05, 0.25 * max(hi_x - lo_x, hi_y - lo_y))
        zoom.set_xlim(lo_x - pad, hi_x + pad)
        zoom.set_ylim(lo_y - pad, hi_y + pad)
        reach = max(1.1, float(np.abs(values).max()) * 1.1)
    else:
        reach = 1.1
        full.text(0, 0.5, "no fixed points found", ha="center", fontsize=9)
    full.set_xlim(-reach, reach)
    full.set_ylim(-reach, reach)
    full.set_aspect("equal")
    full.set_title("Jacobian eigenvalues λ (discrete time)", fontsize=9)
    zoom.set_title("zoom on the leading modes", fontsize=9)
    for ax in (full, zoom):
        ax.set_xlabel("Re λ")
        ax.tick_params(labelsize=7)
    full.set_ylabel("Im λ")
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
    fig.legend(handles=handles, fontsize=7, loc="outside lower center", ncol=3)
    return fig


def _annotate_modes(ax, point: dict, n_annotate: int) -> None:
    """Label the leading eigenmodes (one of each conjugate pair) of one fixed point."""
    values = complex_values(point.get("eigenvalues", []))
    taus = list(point.get("time_constants_s", []) or [])
    freqs = list(point.get("frequencies_hz", []) or [])
    order = np.argsort(-np.abs(values), kind="stable")
    done = 0
    for i in order:
        if values[i].imag < 0 and np.any(np.isclose(values, np.conj(values[i]))):
            continue
        tau = taus[i] if i < len(taus) else None
        freq = freqs[i] if i < len(freqs) else None
        ax.annotate(
            mode_label(tau, freq),
            (values[i].real, values[i].imag),
            fontsize=7,
            xytext=(6, 10 + 12 * (done % 3)),
            textcoords="offset points",
            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6},
        )
        done += 1
        if done == n_annotate:
            break


def spectra_figure(
    frequency: np.ndarray, psd_recorded: np.ndarray, psd_generated: np.ndarray, *, activity_units: str = "a.u."
) -> Figure:
    """Power spectra of recorded vs generated activity: mean over channels, 25–75 % band.

    frequency: (frequency,) Hz; psd_recorded, psd_generated: (channel, frequency) in
    activity_units²/Hz. The 0 Hz bin (removed by detrending) is not drawn.
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    keep = frequency > 0
    fig = new_figure(6.0, 3.8)
    ax = fig.subplots()
    for psd, color, label in (
        (psd_recorded, RECORDED_COLOR, "recorded"),
        (psd_generated, GENERATED_COLOR, "generated"),
    ):
        psd = np.asarray(psd, dtype=np.float64)[:, keep]
        psd = np.where(psd > 0, psd, np.nan)
        if not np.isfinite(psd).any():
            continue
        ax.plot(frequency[keep], np.nanmean(psd, axis=0), color=color, lw=1.6, label=f"{label} (channel mean)")
        lo, hi = np.nanpercentile(psd, [25, 75], axis=0)
        ax.fill_between(frequency[keep], lo, hi, color=color, alpha=0.15, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("frequency (Hz)")
    unit = f"({activity_units})" if "/" in activity_units or " " in activity_units else activity_units
    ax.set_ylabel(f"power spectral density ({unit}²/Hz)")
    ax.set_title("Power spectra (shaded: 25–75 % of channels)", fontsize=10)
    ax.legend(fontsize=8)
    ax.margins(x=0)
    return fig


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
    ax.set_title("Transfer function at each fixed point", fontsize=10)
    if len(gain):
        ax.legend(fontsize=7)
    ax.margins(x=0)
    return fig


def coherence_figure(frequency: np.ndarray, coherence: np.ndarray) -> Figure:
    """Coherence of each latent with the recorded channels: mean over channels and the best channel.

    frequency: (F,) Hz; coherence: (latent, channel, F) in [0, 1].
    """
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    coherence = np.asarray(coherence, dtype=np.float64)
    colors = matplotlib.colormaps["tab10"](np.arange(coherence.shape[0]) % 10)
    for i, (color, per_channel) in enumerate(zip(colors, coherence)):
        if not np.isfinite(per_channel).any():
            continue
        ax.plot(
            frequency, np.nanmean(per_channel, axis=0), color=color, lw=1.4, label=f"latent {i}" if i < 10 else None
        )
        ax.plot(frequency, np.nanmax(per_channel, axis=0), color=color, lw=0.7, ls="--")
    ax.set_ylim(0, 1)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("coherence")
    ax.set_title("Latent–channel coherence (solid: channel mean, dashed: best channel)", fontsize=10)
    ax.legend(fontsize=7, ncol=2)
    ax.margins(x=0)
    return fig


def sweep_figure(panels: Sequence[tuple[str, dict[str, Sequence[Any]], Sequence[Any]]], x_label: str) -> Figure:
    """Metrics against a swept option, one panel per metric.

    panels: (metric label, {series label: points}, pooled points); a point has ``x``, ``mean``,
    ``sem`` (see :mod:`neurodyn.report.sweeps`). Series are thin lines, the pooled mean ± SEM bold.
    The x axis is logarithmic (symmetric-log when 0 is among the values) with a tick per value when
    positive values span more than a decade; the y axis is logarithmic when the values span more
    than two decades.
    """
    n = max(len(panels), 1)
    fig = new_figure(min(3.4 * n, 13.0), 3.3)
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
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ys = np.asarray([p.mean for s in series.values() for p in s] + [p.mean for p in pooled], dtype=float)
        if ys.size and (ys > 0).all() and ys.max() / ys.min() > 100:
            ax.set_yscale("log")  # e.g. a normalised error that explodes for a few models
        ax.set_xlabel(x_label)
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=7)
    return fig


# ----------------------------------------------------------------------------- expansion points


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
            heat.text(j, i, f"{v:.0f}°", ha="center", va="center", fontsize=7, color="white" if v < 45 else "black")
        fig.colorbar(image, ax=heat, label="mean principal angle (°)")
    heat.set_yticks(range(len(jpca_hz)), [f"jPCA {i + 1}\n{f:.3g} Hz" for i, f in enumerate(jpca_hz)], fontsize=7)
    heat.set_xticks(range(len(eigen_hz)), [f"{f:.3g}" for f in eigen_hz], fontsize=7)
    heat.set_xlabel("eigen-plane frequency (Hz)")
    heat.set_title("angles between planes (90° = orthogonal)", fontsize=9)
    return fig


__all__ = [
    "channel_variance_figure",
    "coherence_figure",
    "eigenvalue_figure",
    "expansion_modes_figure",
    "figure_png",
    "jpca_figure",
    "latent_trajectories_figure",
    "pca_projection",
    "psth_figure",
    "raster_figure",
    "rate_histogram_figure",
    "recorded_vs_generated_figure",
    "spectra_figure",
    "sweep_figure",
    "transfer_figure",
]
