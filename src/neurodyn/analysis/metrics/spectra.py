"""Spectral metrics: power-spectrum Hellinger distance D_H (Mikhaeil et al., 2022, NeurIPS; Hess et al., 2023,
ICML), power-spectrum error by band (Schmidt et al., 2021, ICLR), Welch spectra and latent-signal coherence."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal
from scipy.ndimage import gaussian_filter1d

from neurodyn.analysis.metrics._checks import (
    as_float_array,
    check_finite,
    check_ndim,
    check_positive,
    check_positive_int,
)
from neurodyn.errors import NeurodynError


def _as_trial_signal(name: str, value: object) -> np.ndarray:
    """Validate a multichannel signal and give it a trial axis.

    value: (time, channel) or (trial, time, channel) -> (trial, time, channel).
    """
    array = as_float_array(name, value)
    check_ndim(name, array, (2, 3), "(time, channel) or (trial, time, channel)")
    check_finite(name, array)
    return array[None] if array.ndim == 2 else array


def _trial_averaged_power(signal_trials: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of z-scored trials, averaged over the non-constant trials.

    signal_trials: (trial, time, channel) -> (power (freq, channel), usable (channel,) bool);
    a channel is unusable when it is constant in every trial.
    """
    centred = signal_trials - signal_trials.mean(axis=1, keepdims=True)
    std = centred.std(axis=1)
    scale = np.abs(signal_trials).max(axis=1)
    # A constant signal can leave a std of a few ulp after centring; that is not a signal.
    varying = std > 1e-12 * np.maximum(scale, np.finfo(np.float64).tiny)
    z_scored = centred / np.where(varying, std, 1.0)[:, None, :]
    power = np.abs(np.fft.rfft(z_scored, axis=1)) ** 2
    power *= varying[:, None, :]
    n_varying = varying.sum(axis=0)
    return power.sum(axis=0) / np.maximum(n_varying, 1), n_varying > 0


def power_spectrum_hellinger(
    x_true: np.ndarray, x_gen: np.ndarray, *, smoothing_sigma: float = 20.0
) -> tuple[float, np.ndarray, float]:
    """Hellinger distance D_H between smoothed, normalised power spectra.

    Mikhaeil et al., 2022, NeurIPS; Hess et al., 2023, ICML. Per channel: each trial is
    z-scored along time, ``|rfft|^2`` is averaged over trials, Gaussian-smoothed along frequency
    (scipy.ndimage.gaussian_filter1d, default 'reflect' boundary) and normalised to sum to 1,
    giving p (true) and q (generated); ``H = sqrt(max(0, 1 - sum(sqrt(p q))))``.

    The two inputs may differ in trial count and length; the longer signals are truncated to
    the shorter length so that both spectra share one frequency grid. The smoothing sigma is
    clamped to a tenth of the number of frequency bins, and the value used is returned.

    Args:
        x_true: (time, channel) or (trial, time, channel) reference signal.
        x_gen: (time', channel) or (trial', time', channel) generated signal, same channels.
        smoothing_sigma: Gaussian smoothing width in frequency bins (>= 0; 0 = none).

    Returns:
        (mean over channels (NaN channels skipped), per-channel distances (channel,),
        effective smoothing sigma). A channel that is constant in every trial of either input
        gets NaN.
    """
    p, q, usable, effective_sigma, _ = _normalised_spectra(x_true, x_gen, smoothing_sigma)
    overlap = np.sqrt(p * q).sum(axis=0)
    per_channel = np.where(usable, np.sqrt(np.clip(1.0 - overlap, 0.0, None)), np.nan)
    return float(np.nanmean(per_channel)), per_channel, effective_sigma


def _normalised_spectra(x_true: np.ndarray, x_gen: np.ndarray, smoothing_sigma: float):
    """(p, q, usable, sigma, n_time): smoothed power spectra (freq, channel), each channel summing to 1,
    of z-scored trials (truncated to a common length), the channels usable in both, and the
    smoothing sigma used (clamped to a tenth of the number of frequency bins), and the common length."""
    true_trials = _as_trial_signal("x_true", x_true)
    gen_trials = _as_trial_signal("x_gen", x_gen)
    if gen_trials.shape[2] != true_trials.shape[2]:
        raise NeurodynError(f"x_gen: has {gen_trials.shape[2]} channels but x_true has {true_trials.shape[2]}")
    smoothing_sigma = check_positive("smoothing_sigma", smoothing_sigma, allow_zero=True)
    n_time = min(true_trials.shape[1], gen_trials.shape[1])
    if n_time < 2:
        raise NeurodynError(f"x_true, x_gen: need at least 2 time steps, got {n_time}")

    true_power, true_usable = _trial_averaged_power(true_trials[:, :n_time])
    gen_power, gen_usable = _trial_averaged_power(gen_trials[:, :n_time])
    effective_sigma = min(smoothing_sigma, true_power.shape[0] / 10.0)

    def normalised(power: np.ndarray) -> np.ndarray:
        if effective_sigma > 0:
            power = gaussian_filter1d(power, effective_sigma, axis=0)
        total = power.sum(axis=0)
        return power / np.where(total > 0, total, 1.0)

    usable = true_usable & gen_usable
    if not usable.any():
        raise NeurodynError("x_true, x_gen: every channel is constant in one of the inputs")
    return normalised(true_power), normalised(gen_power), usable, float(effective_sigma), n_time


# a band holding less than this share of a channel's recorded power is absent for that channel
MIN_BAND_POWER = 1e-3


def power_spectrum_error(
    x_true: np.ndarray,
    x_gen: np.ndarray,
    fs: float,
    *,
    split_hz: float = 50.0,
    smoothing_sigma: float = 0.0,
    min_band_power: float = MIN_BAND_POWER,
) -> dict[str, Any]:
    """Normalised mean squared error between power spectra, over all frequencies and split into a
    low (≤ ``split_hz``) and a high (> ``split_hz``) band.

    Schmidt et al. 2021 (ICLR), Fig. 3B–C: the error between the power spectra of true and
    generated series, split at 50 Hz, shows which time scales a reconstruction captures. Spectra
    are those of :func:`power_spectrum_hellinger` (z-scored trials, ``|rfft|²`` averaged over
    trials, optional Gaussian smoothing in frequency bins, normalised to sum 1 per channel). Per
    channel and band B the error is Σ_B (p − q)² / Σ_B (p² + q²), which lies in [0, 1] (0:
    identical, 1: no power at common frequencies), so both bands are on the same scale whatever
    their share of power, and a band where the true spectrum is nearly empty (e.g. above a
    smoothing filter's cut-off) cannot blow the error up as a division by Σ_B p² alone would.

    A band that holds less than ``min_band_power`` of a channel's recorded power (Σ_B p, e.g. the
    band above 50 Hz of a 160 Hz recording after Hann smoothing) has nothing to compare there: the
    ratio would read ≈ 1 for any model, so that channel's band error is absent (NaN), and the band
    is None when it is absent on every channel.

    Args:
        x_true, x_gen: (time, channel) or (trial, time, channel) signals sampled at ``fs`` Hz.
        split_hz: boundary of the two bands; a band with no frequency bin gives None.
        min_band_power: smallest share of a channel's recorded power a band must hold to be scored.

    Returns:
        dict with ``all``, ``low``, ``high`` (means over usable channels, or None) and
        ``per_channel`` — a dict of the same three keys, each a (channel,) array (NaN: unusable).
    """
    fs = check_positive("fs", fs)
    split_hz = check_positive("split_hz", split_hz)
    if not (np.isfinite(min_band_power) and 0 <= min_band_power < 1):
        raise NeurodynError(f"min_band_power: must be in [0, 1), got {min_band_power!r}")
    p, q, usable, _, n_time = _normalised_spectra(x_true, x_gen, smoothing_sigma)
    freqs = np.fft.rfftfreq(n_time, d=1.0 / fs)
    out: dict[str, Any] = {"per_channel": {}}
    for band, in_band in (("all", np.ones_like(freqs, bool)), ("low", freqs <= split_hz), ("high", freqs > split_hz)):
        if not in_band.any():
            out[band], out["per_channel"][band] = None, np.full(p.shape[1], np.nan)
            continue
        num = ((p[in_band] - q[in_band]) ** 2).sum(0)
        den = (p[in_band] ** 2 + q[in_band] ** 2).sum(0)
        present = p[in_band].sum(0) >= min_band_power  # p sums to 1 per channel
        per = np.where(usable & present & (den > 0), num / np.where(den > 0, den, 1.0), np.nan)
        out["per_channel"][band] = per
        out[band] = float(np.nanmean(per)) if np.isfinite(per).any() else None
    return out


def welch_spectra(x: np.ndarray, fs: float, *, nperseg: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Trial-averaged Welch power spectral density per channel.

    scipy.signal.welch along time with constant detrending and its default Hann window and 50 %
    overlap, computed per trial and averaged over trials (one-sided density, units of x^2/Hz).

    Args:
        x: (trial, time, channel) or (time, channel) signal.
        fs: sampling rate in Hz.
        nperseg: segment length in samples; default min(time, 256).

    Returns:
        (freqs (freq,), psd (channel, freq)).
    """
    trials = _as_trial_signal("x", x)
    fs = check_positive("fs", fs)
    n_time = trials.shape[1]
    if nperseg is None:
        nperseg = min(n_time, 256)
    nperseg = check_positive_int("nperseg", nperseg)
    if nperseg > n_time:
        raise NeurodynError(f"nperseg: {nperseg} exceeds the {n_time} time steps of x")
    freqs, psd = signal.welch(trials, fs=fs, nperseg=nperseg, detrend="constant", axis=1)
    # psd: (trial, freq, channel) -> (channel, freq)
    return freqs, psd.mean(axis=0).T


def latent_signal_coherence(
    latents: np.ndarray, signals: np.ndarray, fs: float, *, nperseg: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude-squared coherence between every latent and every recorded channel.

    Welch estimates (scipy.signal.csd / welch, Hann window, 50 % overlap, constant detrend) of the
    cross- and auto-spectra are averaged over trials before forming |S_xy|² / (S_xx S_yy), so the
    estimate uses every segment of every trial.

    Args:
        latents: (trial, time, latent) or (time, latent), e.g. posterior means.
        signals: (trial, time, channel) or (time, channel), the same bins (e.g. EEG or LFP).
        fs: sampling rate in Hz; nperseg: segment length (default min(time, 256)).

    Returns:
        (freqs (freq,), coherence (latent, channel, freq) in [0, 1]; NaN where a spectrum is 0).
    """
    z = _as_trial_signal("latents", latents)
    x = _as_trial_signal("signals", signals)
    if z.shape[:2] != x.shape[:2]:
        raise NeurodynError(f"latents, signals: need the same trials and bins, got {z.shape[:2]} and {x.shape[:2]}")
    fs = check_positive("fs", fs)
    n_time = z.shape[1]
    nperseg = check_positive_int("nperseg", min(n_time, 256) if nperseg is None else nperseg)
    if nperseg > n_time:
        raise NeurodynError(f"nperseg: {nperseg} exceeds the {n_time} time steps")
    options = {"fs": fs, "nperseg": nperseg, "detrend": "constant", "axis": 1}
    freqs, s_zz = signal.welch(z, **options)  # (trial, freq, latent)
    _, s_xx = signal.welch(x, **options)  # (trial, freq, channel)
    _, s_zx = signal.csd(z[:, :, :, None], x[:, :, None, :], **options)  # (trial, freq, latent, channel)
    s_zz, s_xx, s_zx = s_zz.mean(0), s_xx.mean(0), s_zx.mean(0)
    denom = s_zz[:, :, None] * s_xx[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        coherence = np.where(denom > 0, np.abs(s_zx) ** 2 / denom, np.nan)
    return freqs, np.moveaxis(coherence, 0, -1)


def spectral_peak_hz(freqs: np.ndarray, psd: np.ndarray) -> float | None:
    """Frequency of the maximum of the channel-averaged power spectrum, above 0 Hz.

    The spectrum averaged over the channels whose spectrum is finite everywhere (e.g. the Welch
    spectra of :func:`welch_spectra`) is searched for its largest value at frequencies > 0; ties
    keep the lowest frequency.

    Args:
        freqs: (freq,) frequencies in Hz.
        psd: (channel, freq) or (freq,) power spectral densities.

    Returns:
        The frequency in Hz, or None when no channel is finite, no frequency is above 0 Hz, or the
        averaged spectrum is flat there (all values equal, e.g. all zero).
    """
    freqs = as_float_array("freqs", freqs)
    check_ndim("freqs", freqs, (1,), "(freq,)")
    psd = as_float_array("psd", psd)
    check_ndim("psd", psd, (1, 2), "(channel, freq) or (freq,)")
    psd = psd[None] if psd.ndim == 1 else psd
    if psd.shape[1] != freqs.size:
        raise NeurodynError(f"psd: has {psd.shape[1]} frequencies but freqs has {freqs.size}")
    finite = np.isfinite(psd).all(axis=1)
    positive = freqs > 0
    if not finite.any() or not positive.any():
        return None
    mean = psd[finite][:, positive].mean(axis=0)
    if np.ptp(mean) <= 0:
        return None
    return float(freqs[positive][int(np.argmax(mean))])
