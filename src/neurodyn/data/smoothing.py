"""Smoothing binned data along time where only some bins were observed."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d


def smooth_in_time(values: np.ndarray, observed: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Gaussian smoothing along time by normalised convolution.

    values, observed: (trial, time, channel) → (trial, time, channel) float64; bins with no
    observed neighbour are filled with the channel's observed mean.
    """
    x = np.where(observed, values, 0.0).astype(np.float64)
    if sigma_bins <= 0:
        weight = observed.astype(np.float64)
        num = x
    else:
        num = gaussian_filter1d(x, sigma_bins, axis=1, mode="nearest")
        weight = gaussian_filter1d(observed.astype(np.float64), sigma_bins, axis=1, mode="nearest")
    channel_mean = x.sum((0, 1)) / np.maximum(observed.sum((0, 1)), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(weight > 1e-6, num / weight, channel_mean)
    return out
