"""Evaluate a fitted model on a dataset: held-out prediction, generated data, fixed points.

Everything is computed on the evaluation split (``test`` by default; ``valid``, then ``train``
when the dataset has no such trials — the split used is recorded):

* prediction — counts: co-smoothing bits/spike on held-out channels, PSTH R² (held-in and
  held-out channels), Poisson log-likelihood per bin; continuous: R² on held-out and held-in
  channels;
* generation — the model runs freely from its initial-state distribution for as many trials and
  steps as the evaluation split has (with the same inputs when it is conditioned). Recorded and
  generated activity (counts: Gaussian-smoothed, in Hz) are compared by D_stsp in the space of
  the recorded activity's leading principal components and by D_H over channels, and their
  Welch spectra are stored;
* dynamics — fixed points with constant zero input, their Jacobian eigenvalues as time constants
  and frequencies.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.analysis import metrics
from neurodyn.analysis.fixed_points import classify, find_fixed_points
from neurodyn.errors import ConfigError
from neurodyn.models.base import FittedModel
from neurodyn.models.lds import smooth_in_time

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "eval_split": "test",
    "smoothing_s": 0.05,
    "dstsp_dims": 3,
    "dstsp_bins": 30,
    "hellinger_sigma": 20.0,
    "seed": 0,
}


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    config = dict(config or {})
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"analysis.{unknown[0]}", "unknown option")
    cfg = {**DEFAULTS, **config}
    if cfg["eval_split"] not in ("train", "valid", "test"):
        raise ConfigError("analysis.eval_split", "must be train, valid or test")
    if int(cfg["dstsp_dims"]) < 1:
        raise ConfigError("analysis.dstsp_dims", "must be >= 1")
    if int(cfg["dstsp_bins"]) < 2:
        raise ConfigError("analysis.dstsp_bins", "must be >= 2")
    return cfg


def evaluation_trials(dataset: xr.Dataset, wanted: str) -> tuple[np.ndarray, str]:
    """(trial,) bool selection of the evaluation split, falling back valid → train."""
    split = np.asarray(dataset["split"].values).astype(str)
    for name in dict.fromkeys([wanted, "test", "valid", "train"]):
        if (split == name).any():
            if name != wanted:
                log.warning("no '%s' trials; evaluating on '%s'", wanted, name)
            return split == name, name
    raise ConfigError("analysis.eval_split", "the dataset has no trials in any split")


def activity(values: np.ndarray, observed: np.ndarray, kind: str, bin_size: float, smoothing_s: float) -> np.ndarray:
    """What recorded and generated data are compared on: counts → smoothed rate in Hz;
    continuous → the signal itself. (trial, time, channel) → (trial, time, channel) float64."""
    if kind == "counts":
        return smooth_in_time(values, observed, smoothing_s / bin_size) / bin_size
    return np.where(observed, values, np.nan).astype(np.float64)


def _principal_axes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """x: (sample, channel) → mean (channel,), axes (channel, k) of its top principal components."""
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k].T


def evaluate(model: FittedModel, dataset: xr.Dataset, config: dict[str, Any] | None = None):
    """Compute metrics, arrays for figures, and fixed points.

    Returns (metrics: dict, arrays: xr.Dataset, fixed_points: list[dict]).
    """
    cfg = resolve_config(config)
    selection, split_used = evaluation_trials(dataset, cfg["eval_split"])
    ev = dataset.isel(trial=selection)
    kind = ev["data"].attrs["kind"]
    bin_size = float(ev.attrs["bin_size_s"])
    y = ev["data"].values
    observed = ev["mask"].values
    heldout = ev["heldout"].values.astype(bool)
    post = model.posterior(ev)
    pred = post["prediction"].values
    conditions = np.asarray(ev["condition"].values).astype(str) if "condition" in ev else np.zeros(y.shape[0], str)

    out: dict[str, Any] = {"eval_split": split_used, "n_eval_trials": int(y.shape[0])}
    if kind == "counts":
        sigma_bins = cfg["smoothing_s"] / bin_size
        if heldout.any() and (y[:, :, heldout] * observed[:, :, heldout]).sum() > 0:
            out["co_bps"] = metrics.bits_per_spike(y[:, :, heldout], pred[:, :, heldout], observed[:, :, heldout])
        r2 = metrics.psth_r2(y, pred, conditions, smooth_sigma_bins=sigma_bins, mask=observed)
        out["psth_r2_heldin"] = _nanmean(r2[~heldout])
        out["psth_r2_heldout"] = _nanmean(r2[heldout]) if heldout.any() else None
        n_obs = int(observed.sum())
        out["poisson_ll_per_bin"] = metrics.poisson_log_likelihood(y, pred, observed) / max(n_obs, 1)
    else:
        r2 = metrics.r2_score(y, pred, observed)
        out["r2_heldin"] = _nanmean(r2[~heldout])
        out["r2_heldout"] = _nanmean(r2[heldout]) if heldout.any() else None

    # --- free-running generation, compared with the recording ---
    inputs = torch.as_tensor(ev["inputs"].values, dtype=torch.float64) if "inputs" in ev else None
    generated = model.sample(y.shape[0], y.shape[1], inputs=inputs, seed=int(cfg["seed"]))
    real_act = activity(y, observed, kind, bin_size, cfg["smoothing_s"])
    gen_act = activity(generated["data"].values, np.ones(generated["data"].shape, bool), kind, bin_size,
                       cfg["smoothing_s"])
    real_flat = np.nan_to_num(real_act.reshape(-1, real_act.shape[-1]))
    gen_flat = gen_act.reshape(-1, gen_act.shape[-1])
    k = int(min(cfg["dstsp_dims"], real_flat.shape[1]))
    centre, axes = _principal_axes(real_flat, k)
    out["d_stsp"] = metrics.state_space_divergence((real_flat - centre) @ axes, (gen_flat - centre) @ axes,
                                                   n_bins=int(cfg["dstsp_bins"]), seed=int(cfg["seed"]))
    d_h, d_h_channels, sigma_used = metrics.power_spectrum_hellinger(
        np.nan_to_num(real_act), gen_act, smoothing_sigma=float(cfg["hellinger_sigma"]))
    out["d_h"] = d_h
    freqs, psd_real = metrics.welch_spectra(np.nan_to_num(real_act), 1.0 / bin_size)
    _, psd_gen = metrics.welch_spectra(gen_act, 1.0 / bin_size)

    # --- dynamics ---
    dyn = model.dynamics()
    u0 = np.zeros(dyn.input_dim) if dyn.input_dim else None
    points = find_fixed_points(dyn, u0)
    fixed = [{**p.to_json(dyn.dt), "kind": classify(p.eigenvalues)} for p in points]
    out["n_fixed_points"] = len(fixed)
    out["n_stable_fixed_points"] = sum(p["stable"] for p in fixed)
    if fixed:
        slowest = max(fixed[0]["time_constants_s"], key=lambda t: np.inf if t is None else t)
        out["slowest_time_constant_s"] = slowest
        out["leading_oscillation_hz"] = fixed[0]["leading_oscillation_hz"]

    protocol = {
        **cfg,
        "d_stsp_space": f"top {k} principal components of the recorded activity",
        "d_h_smoothing_sigma_used": sigma_used,
        "activity": "Gaussian-smoothed counts in Hz" if kind == "counts" else "signal",
    }
    arrays = xr.Dataset(
        {
            "latents": (("trial", "time", "latent"), post["latents"].values),
            "prediction": (("trial", "time", "channel"), pred),
            "generated_latents": (("generated_trial", "time", "latent"), generated["latents"].values),
            "generated_data": (("generated_trial", "time", "channel"), generated["data"].values),
            "psd_recorded": (("channel", "frequency"), psd_real),
            "psd_generated": (("channel", "frequency"), psd_gen),
            "d_h_per_channel": (("channel",), d_h_channels),
            "psth_r2" if kind == "counts" else "r2": (("channel",), r2),
        },
        coords={"trial": ev["trial"].values, "time": ev["time"].values, "channel": ev["channel"].values,
                "frequency": freqs, "condition": ("trial", conditions.astype(object))},
    )
    for name, var in arrays.variables.items():
        var.attrs.setdefault("units", "1")
        var.attrs.setdefault("long_name", name.replace("_", " "))
    return {"metrics": _plain(out), "protocol": _plain(protocol)}, arrays, fixed


def _nanmean(x: np.ndarray) -> float | None:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else None


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy: numpy scalars → Python, non-finite floats → None."""
    out = {}
    for key, value in d.items():
        if isinstance(value, (np.floating, float)):
            value = float(value) if np.isfinite(value) else None
        elif isinstance(value, np.integer):
            value = int(value)
        out[key] = value
    return out
