"""Model figures of generated activity and latent states.

Recorded vs generated trials on one shared scale, and latent trajectories in the plane of their
first two principal components (:func:`pca_projection`), with fixed and expansion points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neurodyn.report.figures.style import (
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
    new_figure,
    sorted_conditions,
    trace_offset,
)


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
        vmin, vmax, cmap = image_scale(kind, recorded, generated)
        image = None
        for ax, values in zip(axes, (recorded, generated)):
            image = channel_image(ax, values, time, heldout, names, vmin, vmax, cmap)
        axes[0].set_ylabel(image_ylabel(heldout, n_channels), fontsize=8)
        count_colorbar(fig, image, list(axes))
    else:
        shown = np.arange(min(max_traces, n_channels))
        offset = trace_offset(recorded[:, shown], generated[:, shown])
        for ax, values in zip(axes, (recorded, generated)):
            draw_traces(ax, time, values, shown, offset, heldout, names)
        axes[0].set_ylabel(f"channel (traces offset by {offset:.3g} {units or 'a.u.'})", fontsize=8)
        if heldout[shown].any():
            heldout_legend(fig, "outside lower center")
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
    fig.legend(handles=handles, fontsize=SMALL_FONT, loc="outside right upper")
    if one_dim:
        ax.set_xlabel("time (s)" if time is not None else "time (bins)")
        ax.set_ylabel("latent (a.u.)")
    else:
        ax.set_xlabel(f"latent PC 1 (a.u., {100 * explained[0]:.0f}% of variance)")
        ax.set_ylabel(f"latent PC 2 (a.u., {100 * explained[1]:.0f}% of variance)")
    ax.set_title(f"{title} ({n_trials} trials)", fontsize=10)
    return fig
