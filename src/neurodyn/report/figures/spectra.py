"""Frequency-domain figures: power spectra of recorded vs generated activity with their peaks,
latent–channel coherence."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from neurodyn.analysis.metrics.spectra import spectral_peak_hz
from neurodyn.report.figures.style import (
    GENERATED_COLOR,
    LABEL_FONT,
    RECORDED_COLOR,
    SMALL_FONT,
    TITLE_FONT,
    new_figure,
)


def _channel_mean(psd: np.ndarray) -> np.ndarray:
    """(F,) mean over channels of a (channel, F) spectrum, over the finite positive values only."""
    psd = np.where(np.isfinite(psd) & (psd > 0), psd, np.nan)
    out = np.full(psd.shape[-1], np.nan)
    seen = np.isfinite(psd).any(axis=0)
    out[seen] = np.nanmean(psd[:, seen], axis=0)
    return out


def spectra_figure(
    frequency: np.ndarray,
    psd_recorded: np.ndarray,
    psd_generated: np.ndarray,
    *,
    activity_units: str = "a.u.",
    recorded_peak_hz: float | None = None,
    generated_peak_hz: float | None = None,
) -> Figure:
    """Power spectra of recorded vs generated activity: mean over channels, 25–75 % band, and peaks.

    frequency: (frequency,) Hz; psd_recorded, psd_generated: (channel, frequency) in
    activity_units²/Hz. The 0 Hz bin (removed by detrending) is not drawn, nor are non-finite or
    non-positive values (a diverged model's spectrum may be all NaN). The dominant frequency of
    each (``recorded_peak_hz`` / ``generated_peak_hz`` when given, else :func:`spectral_peak_hz` of
    the drawn spectrum) is marked by a dotted vertical line in the spectrum's colour, its value
    in Hz in the legend and at the top of the line (the lines carry the gids ``peak-recorded`` and
    ``peak-generated``).
    """
    frequency = np.asarray(frequency, dtype=np.float64)
    keep = frequency > 0
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    drawn = False
    given = {"recorded": recorded_peak_hz, "generated": generated_peak_hz}
    marked = 0
    for psd, color, label in (
        (psd_recorded, RECORDED_COLOR, "recorded"),
        (psd_generated, GENERATED_COLOR, "generated"),
    ):
        psd = np.asarray(psd, dtype=np.float64)
        shown = psd[:, keep]
        shown = np.where(np.isfinite(shown) & (shown > 0), shown, np.nan)
        if not np.isfinite(shown).any():
            continue
        drawn = True
        ax.plot(frequency[keep], _channel_mean(shown), color=color, lw=1.6, label=f"{label} (channel mean)")
        seen = np.isfinite(shown).any(axis=0)
        lo = np.full(seen.size, np.nan)
        hi = np.full(seen.size, np.nan)
        lo[seen], hi[seen] = np.nanpercentile(shown[:, seen], [25, 75], axis=0)
        ax.fill_between(frequency[keep], lo, hi, color=color, alpha=0.15, lw=0)
        peak = given[label] if given[label] is not None else spectral_peak_hz(frequency, psd)
        if peak is None or not np.isfinite(peak):
            continue
        line = ax.axvline(peak, color=color, ls=":", lw=1.4, label=f"{label} peak: {peak:.3g} Hz")
        line.set_gid(f"peak-{label}")
        ax.annotate(
            f"{peak:.3g} Hz",
            (peak, 1.0),
            xycoords=ax.get_xaxis_transform(),
            xytext=(3, -12 - 12 * marked),
            textcoords="offset points",
            fontsize=SMALL_FONT,
            color=color,
        )
        marked += 1
    ax.set_yscale("log")
    ax.set_xlabel("frequency (Hz)")
    unit = f"({activity_units})" if "/" in activity_units or " " in activity_units else activity_units
    ax.set_ylabel(f"power spectral density ({unit}²/Hz)")
    ax.set_title("Power spectra (shaded: 25–75 % of channels; dotted: peak)", fontsize=TITLE_FONT)
    if drawn:
        ax.legend(fontsize=SMALL_FONT)
    else:
        ax.text(0.5, 0.5, "no finite spectrum", transform=ax.transAxes, ha="center", fontsize=LABEL_FONT)
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
    ax.set_title("Latent–channel coherence (solid: channel mean, dashed: best channel)", fontsize=TITLE_FONT)
    ax.legend(fontsize=SMALL_FONT, ncol=2)
    ax.margins(x=0)
    return fig
