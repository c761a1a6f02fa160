"""Frequency-domain figures: power spectra of recorded vs generated activity, latent–channel coherence."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from neurodyn.report.figures.style import GENERATED_COLOR, RECORDED_COLOR, new_figure


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
