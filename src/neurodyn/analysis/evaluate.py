"""Evaluate a fitted model on a dataset: held-out prediction, generated data, fixed points.

Everything is computed on the evaluation split (``test`` by default; ``valid``, then ``train``
when the dataset has no such trials — the split used is recorded). :func:`evaluate` runs named
steps in order and returns one :class:`AnalysisResult`:

* :func:`prediction_step` — counts: co-smoothing bits/spike on held-out channels, PSTH R²
  (held-in and held-out channels), Poisson log-likelihood per bin; continuous: R² on held-out and
  held-in channels; every further readout the posterior carries (``prediction_<name>``) is scored
  on the held-out channels too (``<name>_co_bps`` / ``<name>_r2_heldout``);
* :func:`generation_step` — the model runs freely from its initial-state distribution for as many
  trials and steps as the evaluation split has (or one long run, the dynamical-systems protocol).
  Recorded and generated activity (counts: Gaussian-smoothed, in Hz) are compared by D_stsp in the
  recorded activity's leading principal components, by D_H and the power-spectrum error, and for
  counts by single-neuron and pairwise spike statistics; both Welch spectra's peaks are reported
  (``recorded_peak_hz``, ``generated_peak_hz``);
* :func:`behavior_step` — where the dataset has ``behavior``: the Neural Latents Benchmark's
  behaviour R² of a ridge decoder fitted on the training trials, from the model's rates
  (``behavior_r2``) and from the recorded activity (``behavior_r2_recorded``);
* :func:`dynamics_step` — fixed points at zero input (exact where the map's structure allows),
  their linearised modes (time constants and frequencies; ``rotation_hz`` of the slowest-decaying
  rotating mode) and transfer functions;
* :func:`expansion_step` — for models that linearise their own map at expansion points along the
  trial (``expansion_points`` in the posterior, e.g. a co-trained JSLDS): the modes along the
  trial, how close the points sit to fixed points, and jPCA against their eigen-planes;
* :func:`distillation_step` — the smallest low-rank tanh RNN reproducing the latent flow;
* the family's own diagnostics (``FittedModel.diagnostics``).

The result's ``about`` records the family, its fit record (``fit``), options and its training
curves (``training``, :meth:`neurodyn.models.base.FittedModel.training_curves`).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr

from neurodyn.analysis import metrics, spectral
from neurodyn.analysis.distill import distill_dynamics
from neurodyn.analysis.expansion import expansion_modes, jpca_comparison
from neurodyn.analysis.fixed_points import FixedPoint, classify, locate_fixed_points
from neurodyn.analysis.fixed_points.numerical import row_jacobians
from neurodyn.analysis.flow_field import flow_field
from neurodyn.analysis.spike_stats import compare_spike_statistics
from neurodyn.data.smoothing import smooth_in_time
from neurodyn.errors import ConfigError, InputFileError, NeurodynError
from neurodyn.models.base import Dynamics, FittedModel
from neurodyn.options import Options, option
from neurodyn.storage import open_store, write_json, write_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisOptions(Options):
    """How a fitted model is evaluated: the `analysis` section, global or per dataset."""

    eval_split: str = option(
        "test", "trials the model is scored on (falls back to valid, then train)", choices=("train", "valid", "test")
    )
    smoothing_s: float = option(0.05, "Gaussian smoothing of spike counts into rates, seconds (sd)", ge=0)
    dstsp_space: str = option(
        "auto",
        "where D_stsp compares recorded and generated activity: observed (the channels themselves, the "
        "published protocol), pca (the recording's top dstsp_dims principal components), or auto (observed "
        "below 6 channels, pca from 6)",
        choices=("auto", "observed", "pca"),
    )
    dstsp_dims: int = option(
        3, "principal components of the recorded activity that D_stsp compares in (dstsp_space pca)", ge=1
    )
    dstsp_bins: int = option(30, "histogram bins per dimension of D_stsp (published protocol: 30)", ge=2)
    hellinger_sigma: float = option(
        20.0, "Gaussian smoothing of power spectra for D_H, in frequency bins (0: none)", ge=0
    )
    spectrum_split_hz: float = option(
        50.0, "power-spectrum error is reported for bands <= and > this frequency, Hz", gt=0
    )
    distill: bool = option(True, "distil each model's latent map into the smallest low-rank tanh RNN")
    distill_tol: float = option(1e-2, "relative MSE the distilled flow must reach", gt=0, lt=1)
    distill_max_neurons: int = option(100, "largest distilled network tried", ge=1)
    seed: int = option(0, "seed of free-running generation and of D_stsp's sampling", ge=0)
    generation: str = option(
        "trials",
        "trials: as many free-running trials as the evaluation split has; long: one long run after a "
        "burn-in, scored against the evaluation trials joined in time",
        choices=("trials", "long"),
    )
    burn_in_steps: int = option(2400, "long generation: steps run and discarded before scoring", ge=0)
    generated_steps: int | None = option(None, "long generation: steps scored (null: as many as the reference)", ge=1)
    reference_steps: int | None = option(
        None, "long generation: first steps of the joined recording used (null: all)", ge=1
    )
    hann_window: int | None = option(None, "long generation: causal Hann smoothing of both, in bins", ge=1)
    zscore: bool = option(False, "long generation: z-score recording and free run per channel after smoothing")
    expansion_anchors: int = option(
        8, "JSLDS models: expansion points sampled along the trial for their Jacobian spectra", ge=1
    )
    jpca_components: int = option(6, "JSLDS models: principal components jPCA fits its rotations in", ge=2, even=True)
    fixed_point_search: str = option(
        "auto",
        "numerical fixed-point search of maps without an exact solver: grid (a dense grid, for at most 3 "
        "latents) or space_filling (rounds of Sobol starts), each with visited states and deflation; visited "
        "(from visited states only); auto (grid up to 3 latents, else space_filling)",
        choices=("auto", "grid", "space_filling", "visited"),
    )
    fixed_point_rounds: int = option(
        12,
        "numerical fixed-point search: most rounds of space-filling starts (it stops after 2 rounds without a new point)",
        ge=1,
    )
    fixed_point_round_size: int = option(256, "numerical fixed-point search: starts per round", ge=1)


@dataclass
class AnalysisResult:
    """What the analysis of one model on one dataset produces, as written to and read from its
    folder: ``metrics.json`` (metrics, protocol and the sections below), ``fixed_points.json`` and
    ``arrays.zarr`` (latents, predictions, free runs, spectra, ... for figures)."""

    metrics: dict[str, Any]
    protocol: dict[str, Any]
    fixed_points: list[dict[str, Any]]
    arrays: xr.Dataset
    spike_statistics: dict[str, Any] | None = None
    distillation: dict[str, Any] | None = None
    expansion: dict[str, Any] | None = None
    behavior_decoding: dict[str, Any] | None = None
    # who was analysed: family, fit record, options and training curves (and, in the workflow, its names)
    about: dict[str, Any] = field(default_factory=dict)

    fixed_point_search: dict[str, Any] | None = None

    SECTIONS: ClassVar[tuple[str, ...]] = (
        "spike_statistics",
        "distillation",
        "expansion",
        "behavior_decoding",
        "fixed_point_search",
    )

    def __repr__(self) -> str:
        shown = ("co_bps", "psth_r2_heldout", "r2_heldout", "d_stsp", "d_h", "n_fixed_points", "n_stable_fixed_points")
        values = [f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.metrics.items() if k in shown]
        family = self.about.get("family")
        head = f"<AnalysisResult{' of ' + family if family else ''} on {self.metrics.get('n_eval_trials', '?')} "
        return head + f"{self.metrics.get('eval_split', '?')} trials: {', '.join(values)}>"

    def to_json(self) -> dict[str, Any]:
        """The ``metrics.json`` payload."""
        out = {**self.about, "metrics": self.metrics, "protocol": self.protocol}
        out.update({name: getattr(self, name) for name in self.SECTIONS if getattr(self, name) is not None})
        return out

    def save(self, directory: str | os.PathLike[str]) -> dict[str, Path]:
        """Write ``metrics.json``, ``fixed_points.json`` and ``arrays.zarr`` into ``directory``,
        each atomically."""
        directory = Path(directory)
        arrays = write_store(self.arrays, directory / "arrays.zarr")
        return {
            "metrics": write_json(self.to_json(), directory / "metrics.json"),
            "fixed_points": write_json(self.fixed_points, directory / "fixed_points.json"),
            "arrays": arrays,
        }

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> AnalysisResult:
        """Read a result written by :meth:`save`; InputFileError names the folder when incomplete."""
        directory = Path(directory)
        try:
            payload = json.loads((directory / "metrics.json").read_text())
            fixed = json.loads((directory / "fixed_points.json").read_text())
            arrays = open_store(directory / "arrays.zarr")
        except (OSError, ValueError, KeyError) as exc:
            raise InputFileError(directory, f"incomplete analysis outputs ({type(exc).__name__}: {exc})")
        sections = {name: payload.pop(name, None) for name in cls.SECTIONS}
        metrics, protocol = payload.pop("metrics", {}), payload.pop("protocol", {})
        return cls(metrics=metrics, protocol=protocol, fixed_points=fixed, arrays=arrays, about=payload, **sections)


def resolve_config(config: dict[str, Any] | None, where: str = "analysis") -> dict[str, Any]:
    """The analysis options with defaults filled in, as plain values; wrong keys, types or values
    raise ConfigError naming ``<where>.<option>``."""
    return AnalysisOptions.parse(config, where).as_dict()


def causal_hann(x: np.ndarray, window: int | None) -> np.ndarray:
    """Causal Hann smoothing along time: y_t = Σ_k w_k x_{t−k} / Σ w, w = scipy's symmetric
    Hann(window), zeros before the start (x: (time, channel)).

    With the z-scoring that follows, this reproduces the published smoothed EEG S001R01 array
    (``../shared/data/dsr``) to < 0.01 after the first ``window`` steps (tested)."""
    if not window or window <= 1:
        return x
    from scipy.signal.windows import hann

    w = hann(window)
    return np.apply_along_axis(lambda c: np.convolve(c, w)[: len(c)], 0, x) / w.sum()


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def long_protocol(real: np.ndarray, generated: np.ndarray, burn_in: int, cfg: dict[str, Any]):
    """Reference (time, channel) and generated (burn_in + time', channel) data as scored: both
    Hann-smoothed (the generated trajectory including its burn-in, which is then dropped) and
    optionally z-scored per channel."""
    real = causal_hann(np.nan_to_num(real), cfg["hann_window"])
    gen = causal_hann(generated, cfg["hann_window"])[burn_in:]
    if cfg["zscore"]:
        real, gen = _zscore(real), _zscore(gen)
    return real, gen


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


# D_stsp's published protocol bins the observed coordinates; from 6 dimensions it needs a Gaussian
# mixture whose cost grows with the channels, so "auto" compares principal components there
DSTSP_OBSERVED_BELOW = 6


def _principal_axes(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """x: (sample, channel) → mean (channel,), axes (channel, k) of its top principal components."""
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    return mean, vt[:k].T


# --- the steps ------------------------------------------------------------------------------------


@dataclass
class EvaluationData:
    """The evaluation split of a dataset as the steps use it: y, observed (trial, time, channel),
    heldout (channel,) bool, conditions (trial,) str, inputs (trial, time, input) or None;
    all_y, all_observed, all_conditions: the same for every trial of the dataset (the PSTH target)."""

    dataset: xr.Dataset
    split: str
    kind: str
    bin_size: float
    y: np.ndarray
    observed: np.ndarray
    heldout: np.ndarray
    conditions: np.ndarray
    inputs: torch.Tensor | None
    all_y: np.ndarray
    all_observed: np.ndarray
    all_conditions: np.ndarray

    @classmethod
    def select(cls, dataset: xr.Dataset, wanted_split: str) -> EvaluationData:
        selection, split_used = evaluation_trials(dataset, wanted_split)
        ev = dataset.isel(trial=selection)
        y = ev["data"].values

        def conditions_of(ds: xr.Dataset) -> np.ndarray:
            n = ds.sizes["trial"]
            return np.asarray(ds["condition"].values).astype(str) if "condition" in ds else np.zeros(n, str)

        conditions = conditions_of(ev)
        return cls(
            dataset=ev,
            split=split_used,
            kind=ev["data"].attrs["kind"],
            bin_size=float(ev.attrs["bin_size_s"]),
            y=y,
            observed=ev["mask"].values,
            heldout=ev["heldout"].values.astype(bool),
            conditions=conditions,
            inputs=torch.as_tensor(ev["inputs"].values, dtype=torch.float64) if "inputs" in ev else None,
            all_y=dataset["data"].values,
            all_observed=dataset["mask"].values,
            all_conditions=conditions_of(dataset),
        )

    def heldout_co_bps(self, prediction: np.ndarray) -> float | None:
        """Co-smoothing bits/spike of ``prediction`` (trial, time, channel) on the held-out channels."""
        h = self.heldout
        if not h.any() or (self.y[:, :, h] * self.observed[:, :, h]).sum() <= 0:
            return None
        return metrics.bits_per_spike(self.y[:, :, h], prediction[:, :, h], self.observed[:, :, h])


def prediction_step(data: EvaluationData, post: xr.Dataset, cfg: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """Held-out prediction metrics and the per-channel R² (PSTH R² for counts) (channel,)."""
    y, observed, heldout = data.y, data.observed, data.heldout
    pred = post["prediction"].values
    out: dict[str, Any] = {}
    if data.kind == "counts":
        co_bps = data.heldout_co_bps(pred)
        if co_bps is not None:
            out["co_bps"] = co_bps
        sigma_bins = cfg["smoothing_s"] / data.bin_size
        # the Neural Latents Benchmark's target: each condition's PSTH over all of its trials
        target = (data.all_y, data.all_conditions, data.all_observed)
        r2 = metrics.psth_r2(y, pred, data.conditions, smooth_sigma_bins=sigma_bins, mask=observed, target=target)
        out["psth_r2_heldin"] = _nanmean(r2[~heldout])
        out["psth_r2_heldout"] = _nanmean(r2[heldout]) if heldout.any() else None
        if heldout.any():
            r2_eval = metrics.psth_r2(y, pred, data.conditions, smooth_sigma_bins=sigma_bins, mask=observed)
            out["psth_r2_heldout_eval_trials"] = _nanmean(r2_eval[heldout])
        out["poisson_ll_per_bin"] = metrics.poisson_log_likelihood(y, pred, observed) / max(int(observed.sum()), 1)
    else:
        r2 = metrics.r2_score(y, pred, observed)
        out["r2_heldin"] = _nanmean(r2[~heldout])
        out["r2_heldout"] = _nanmean(r2[heldout]) if heldout.any() else None
    # further readouts of the same data (e.g. a JSLDS's): scored on the held-out channels as well
    for name in sorted(str(v) for v in post.data_vars if str(v).startswith("prediction_")):
        variant = name.removeprefix("prediction_")
        if data.kind == "counts":
            score = data.heldout_co_bps(post[name].values)
            if score is not None:
                out[f"{variant}_co_bps"] = score
        elif heldout.any():
            out[f"{variant}_r2_heldout"] = _nanmean(metrics.r2_score(y, post[name].values, observed)[heldout])
    return out, r2


def behavior_step(
    model: FittedModel, dataset: xr.Dataset, data: EvaluationData, post: xr.Dataset, cfg: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Behaviour decoding, where ``dataset`` has ``behavior (trial, time, behavior_var)``: the
    velocity-R² protocol of the Neural Latents Benchmark (Pei et al. 2021;
    :func:`neurodyn.analysis.metrics.behavior_decoding`) — a ridge regression from the rates of all
    channels to the behaviour, each bin a sample, its penalty cross-validated on the training
    trials, scored on the evaluation trials (R² averaged uniformly over behaviour dimensions).

    Features: ``behavior_r2`` — the model's ``prediction`` (expected data per bin; the posterior on
    the training trials is computed here); ``behavior_r2_recorded`` — the recorded activity of the
    same bins, counts Gaussian-smoothed (sd ``smoothing_s``; counts per bin, the unit of the model's
    rates) or the continuous signal itself. Samples: bins where some channel is observed, the
    recorded features are finite and the behaviour is finite; both decoders use the same samples.
    Returns (metrics, the ``behavior_decoding`` section of metrics.json) or ({}, None).
    """
    if "behavior" not in dataset:
        return {}, None
    split = np.asarray(dataset["split"].values).astype(str)
    train_ds = dataset.isel(trial=split == "train")
    train_post = post if data.split == "train" else model.posterior(train_ds)

    def recorded(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
        y, observed = ds["data"].values, ds["mask"].values
        features = activity(y, observed, data.kind, data.bin_size, cfg["smoothing_s"])
        if data.kind == "counts":
            features = features * data.bin_size  # counts per bin, the unit of the model's rates
        return features, observed.any(-1) & np.isfinite(features).all(-1)

    (train_rec, train_use), (eval_rec, eval_use) = recorded(train_ds), recorded(data.dataset)
    train_beh, eval_beh = train_ds["behavior"].values, data.dataset["behavior"].values
    section: dict[str, Any] = {
        "definition": "ridge regression (with intercept) from the rates of all channels to the behaviour, each "
        "time bin a sample; penalty from a log-spaced grid by cross-validation over whole training trials; "
        "R² on the evaluation trials per behaviour dimension, averaged uniformly (Pei et al. 2021)",
        "behavior": [str(v) for v in dataset["behavior_var"].values.tolist()],
        "behavior_units": str(dataset["behavior"].attrs.get("units", "")),
        "train_split": "train",
        "eval_split": data.split,
        "n_train_trials": int(train_ds.sizes["trial"]),
        "n_eval_trials": int(data.y.shape[0]),
        "features": {
            "model": "predicted expected data per bin, all channels",
            "recorded": f"Gaussian-smoothed counts per bin (sd {cfg['smoothing_s']} s), all channels"
            if data.kind == "counts"
            else "recorded signal, all channels",
        },
    }
    if data.split == "train":
        log.warning("behaviour decoding: the evaluation split is the training split; its R² is not held out")
    out: dict[str, Any] = {}
    for key, name, train_x, eval_x in (
        ("behavior_r2", "model", train_post["prediction"].values, post["prediction"].values),
        ("behavior_r2_recorded", "recorded", train_rec, eval_rec),
    ):
        try:
            result = metrics.behavior_decoding(
                train_x, train_beh, eval_x, eval_beh, train_use=train_use, eval_use=eval_use
            )
        except NeurodynError as exc:  # e.g. non-finite predictions or no usable bin: say why, go on
            log.warning("no behaviour decoding from the %s: %s", name, exc)
            out[key], section[name] = None, {"skipped": str(exc)}
            continue
        out[key], section[name] = result.r2, result.to_json()
    return out, section


def coherence_step(
    data: EvaluationData, post: xr.Dataset
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray] | None]:
    """Continuous data with 8 or more bins per trial: how strongly each posterior latent is locked
    to each recorded channel, per frequency."""
    if data.kind != "continuous" or data.y.shape[1] < 8:
        return {}, None
    freqs, coh = metrics.latent_signal_coherence(
        post["latents"].values, np.nan_to_num(data.y * data.observed), 1.0 / data.bin_size
    )
    band = coh[..., freqs > 0]
    return {"latent_coherence_max": float(np.nanmax(band)) if np.isfinite(band).any() else None}, (freqs, coh)


@dataclass
class Generation:
    """A free run and its comparison with the recording (see :func:`generation_step`)."""

    metrics: dict[str, Any]
    generated: xr.Dataset
    psd: tuple[np.ndarray, np.ndarray, np.ndarray]  # frequencies, recorded (channel, F), generated
    d_h_per_channel: np.ndarray
    protocol: dict[str, Any]
    spike_statistics: dict[str, Any] | None


# A free run this many times farther from the recording's median than the recording's own largest
# deviation from it has left the data's world: an unstable reconstruction, even while its values
# are still finite (float32 holds up to 3e38). Binned D_stsp would drop all of it and score well.
RUNAWAY_FACTOR = 1e3


def free_run_diverged(real: np.ndarray, generated: np.ndarray) -> bool:
    """Whether a free run blew up: a non-finite value, or a value farther than ``RUNAWAY_FACTOR``
    × the recording's largest deviation from its per-channel median, in any channel.

    real (..., channel), NaN where unobserved; generated (..., channel)."""
    if not np.isfinite(generated).all():
        return True
    real = real.reshape(-1, real.shape[-1])
    with warnings.catch_warnings():  # an unobserved channel: all NaN, no centre, never judged
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmedian(real, axis=0)
        reach = np.nanmax(np.abs(real - centre)) if np.isfinite(centre).any() else np.nan
    if not np.isfinite(reach) or reach == 0:
        return False
    with np.errstate(invalid="ignore"):
        return bool((np.abs(generated.reshape(-1, generated.shape[-1]) - centre) > RUNAWAY_FACTOR * reach).any())


def generation_step(model: FittedModel, data: EvaluationData, cfg: dict[str, Any]) -> Generation:
    """Free-running generation compared with the recording: D_stsp, D_H, power-spectrum errors,
    spike statistics, Welch spectra and their peaks (``recorded_peak_hz``, ``generated_peak_hz``:
    the frequency above 0 Hz where the channel-averaged spectrum is largest). A free run that blows up (an unstable
    reconstruction, :func:`free_run_diverged`) has no state-space or spectral comparison: its metrics are missing
    and it is flagged."""
    y, observed, kind, bin_size = data.y, data.observed, data.kind, data.bin_size
    out: dict[str, Any] = {}
    inputs = data.inputs
    real_act = activity(y, observed, kind, bin_size, cfg["smoothing_s"])
    long = cfg["generation"] == "long"
    if long:
        real_long = real_act.reshape(-1, real_act.shape[-1])[: cfg["reference_steps"]]
        n_gen = int(cfg["generated_steps"] or real_long.shape[0])
        burn = int(cfg["burn_in_steps"])
        if inputs is not None:
            inputs = torch.zeros(1, burn + n_gen, inputs.shape[-1], dtype=torch.float64)
        generated = model.sample(1, burn + n_gen, inputs=inputs, seed=int(cfg["seed"]))
    else:
        generated = model.sample(y.shape[0], y.shape[1], inputs=inputs, seed=int(cfg["seed"]))
    gen_act = activity(
        generated["data"].values, np.ones(generated["data"].shape, bool), kind, bin_size, cfg["smoothing_s"]
    )
    # judged on the raw activity, before the long protocol's z-scoring could hide a runaway
    diverged = free_run_diverged(real_long if long else real_act, gen_act[0, burn:] if long else gen_act)
    if long:
        real_cmp, gen_cmp = long_protocol(real_long, gen_act[0], burn, cfg)
        real_act, gen_act = real_cmp[None], gen_cmp[None]
        generated = generated.isel(time=slice(burn, None))
        out["generated_steps"], out["burn_in_steps"], out["reference_steps"] = n_gen, burn, int(real_long.shape[0])
    real_flat = np.nan_to_num(real_act.reshape(-1, real_act.shape[-1]))
    gen_flat = gen_act.reshape(-1, gen_act.shape[-1])
    k = int(min(cfg["dstsp_dims"], real_flat.shape[1]))
    out["generation_diverged"] = diverged
    real_clean = np.nan_to_num(real_act)
    if diverged:
        log.warning(
            "the free-running model diverged (non-finite values, or beyond %g× the recorded range): "
            "generation metrics are left out",
            RUNAWAY_FACTOR,
        )
        out.update(d_stsp=None, d_stsp_coverage=None, d_h=None, pse=None, pse_low=None, pse_high=None)
        d_h_channels = np.full(real_act.shape[-1], np.nan)
        sigma_used = None
    else:
        space = cfg["dstsp_space"]
        if space == "auto":
            space = "observed" if real_flat.shape[1] < DSTSP_OBSERVED_BELOW else "pca"
        if space == "observed":  # the published protocol: bin (or, from 6 channels, mix) the channels
            real_space, gen_space = real_flat, gen_flat
            out["d_stsp_pca_dims"] = 0
        else:
            centre, axes = _principal_axes(real_flat, k)
            real_space, gen_space = (real_flat - centre) @ axes, (gen_flat - centre) @ axes
            out["d_stsp_pca_dims"] = k
        out["d_stsp"] = metrics.state_space_divergence(
            real_space, gen_space, n_bins=int(cfg["dstsp_bins"]), seed=int(cfg["seed"])
        )
        out["d_stsp_coverage"] = metrics.state_space_coverage(real_space, gen_space)
        out["d_h"], d_h_channels, sigma_used = metrics.power_spectrum_hellinger(
            real_clean, gen_act, smoothing_sigma=float(cfg["hellinger_sigma"])
        )
        pse = metrics.power_spectrum_error(
            real_clean,
            gen_act,
            1.0 / bin_size,
            split_hz=float(cfg["spectrum_split_hz"]),
            smoothing_sigma=float(cfg["hellinger_sigma"]),
        )
        out["pse"], out["pse_low"], out["pse_high"] = pse["all"], pse["low"], pse["high"]
    spike_statistics = None
    if kind == "counts" and not diverged:
        # single-neuron and pairwise statistics of free-running samples vs the evaluation trials
        spike_statistics = compare_spike_statistics(
            y, np.rint(generated["data"].values), bin_size, recorded_mask=observed
        )
        out["rate_pearson_r"] = spike_statistics["rates"]["pearson_r"]
        out["rate_mean_relative_error"] = spike_statistics["rates"]["mean_relative_error"]
        out["isi_cv_mean_abs_difference"] = spike_statistics["isi_cv"]["mean_abs_difference"]
        out["pairwise_correlation_r"] = spike_statistics["pairwise_correlations"]["pearson_r"]
    freqs, psd_real = metrics.welch_spectra(real_clean, 1.0 / bin_size)
    psd_gen = np.full_like(psd_real, np.nan) if diverged else metrics.welch_spectra(gen_act, 1.0 / bin_size)[1]
    out["recorded_peak_hz"] = metrics.spectral_peak_hz(freqs, psd_real)
    out["generated_peak_hz"] = None if diverged else metrics.spectral_peak_hz(freqs, psd_gen)
    protocol = {
        "d_stsp_space": f"top {k} principal components of the recorded activity",
        "d_h_smoothing_sigma_used": sigma_used,
        "activity": "Gaussian-smoothed counts in Hz" if kind == "counts" else "signal",
    }
    return Generation(out, generated, (freqs, psd_real, psd_gen), d_h_channels, protocol, spike_statistics)


def visited_states(post: xr.Dataset, generated: xr.Dataset, latent_dim: int) -> np.ndarray:
    """(P, L) finite latent states the model visits: posterior and free run."""
    visited = np.concatenate(
        [post["latents"].values.reshape(-1, latent_dim), generated["latents"].values.reshape(-1, latent_dim)]
    )
    return visited[np.isfinite(visited).all(axis=1)]


def dynamics_step(
    dyn: Dynamics, post: xr.Dataset, visited: np.ndarray, cfg: dict[str, Any]
) -> tuple[list[FixedPoint], list[dict[str, Any]], dict[str, Any], tuple[np.ndarray, np.ndarray], dict[str, Any]]:
    """Fixed points at zero input — exact when ``dyn.structure`` allows, else searched from visited
    states and any expansion points, a grid or space-filling design and deflation
    (:func:`~neurodyn.analysis.fixed_points.locate_fixed_points`) — with their spectra and transfer
    functions: (points, their JSON, metrics, (transfer frequencies (F,), gains (points, F)), the
    search's record)."""
    u0 = np.zeros(dyn.input_dim) if dyn.input_dim else None
    starts = None
    if dyn.structure is None:
        rng = np.random.default_rng(int(cfg["seed"]))
        starts = visited[rng.choice(len(visited), size=min(len(visited), 512), replace=False)]
        if "expansion_points" in post:  # points a model linearises around are trained to sit near fixed points
            expansion = post["expansion_points"].values.reshape(-1, dyn.latent_dim)
            starts = np.concatenate(
                [starts, expansion[rng.choice(len(expansion), size=min(len(expansion), 256), replace=False)]]
            )
        starts = torch.as_tensor(starts)
    located = locate_fixed_points(
        dyn,
        u0,
        states=starts,
        search=cfg["fixed_point_search"],
        rounds=int(cfg["fixed_point_rounds"]),
        round_size=int(cfg["fixed_point_round_size"]),
        seed=int(cfg["seed"]),
    )
    points = located.points
    fixed = [{**p.to_json(dyn.dt), "kind": classify(p.eigenvalues)} for p in points]
    transfer = fixed_point_transfer(dyn, points[:MAX_TRANSFER_POINTS], u0, fixed)
    out: dict[str, Any] = {"n_fixed_points": len(fixed), "n_stable_fixed_points": sum(p["stable"] for p in fixed)}
    search = located.search
    complete = search["mode"] == "exact"
    out["fixed_points_estimated_total"] = len(fixed) if complete else search.get("estimated_total")
    out["fixed_points_new_in_last_round"] = 0 if complete else search.get("new_in_last_round")
    if fixed:
        out["slowest_time_constant_s"] = max(fixed[0]["time_constants_s"], key=lambda t: np.inf if t is None else t)
    return points, fixed, out, transfer, search


# dimensions of the flow-field arrays (:func:`neurodyn.analysis.flow_field.flow_field`); a 1-D map's
# flow_u is (flow_x,) and it has no flow_y, flow_v or flow_w
FLOW_DIMS: dict[str, tuple[str, ...]] = {
    "flow_x": ("flow_x",),
    "flow_y": ("flow_y",),
    "flow_u": ("flow_y", "flow_x"),
    "flow_v": ("flow_y", "flow_x"),
    "flow_w": ("flow_y", "flow_x"),
    "flow_basis": ("latent", "flow_axis"),
    "flow_centre": ("latent",),
}


def flow_step(dyn: Dynamics, post: xr.Dataset) -> dict[str, np.ndarray]:
    """The flow F(z) − z of the latent map at zero input on a lattice over the posterior latents,
    for maps of 1–3 latents (:func:`neurodyn.analysis.flow_field.flow_field`); {} otherwise."""
    if dyn.latent_dim > 3:
        return {}
    u = None if not dyn.input_dim else torch.zeros(dyn.input_dim, dtype=torch.float64)
    return flow_field(lambda z: dyn.step(z, u), post["latents"].values)


def expansion_step(
    dyn: Dynamics, post: xr.Dataset, points: list[FixedPoint], data: EvaluationData, cfg: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], tuple[np.ndarray, list[str]] | None]:
    """A model that linearises its own map at expansion points e* along the trial (posterior
    ``expansion_points`` (trial, time, latent); Smith, Linderman & Sussillo 2021):

    * ``expansion_speed_median``: median of ½‖F(e*, 0) − e*‖² over the points, the q the
      fixed-point finder minimises;
    * ``expansion_to_fixed_point_median``: median distance from a point to the nearest fixed point,
      relative to the RMS norm of the posterior latents (None without fixed points);
    * the modes along the trial and jPCA of the condition-averaged latents against the eigen-planes
      at the central expansion point (:mod:`neurodyn.analysis.expansion`): ``jpca_r2_skew`` and
      ``jpca_plane_angle_deg`` (jPCA plane 1 against its best-matching eigen-plane).

    Returns (metrics, the section for metrics.json, (jPCA projection (C, T, 2), condition labels) or None).
    """
    u_t = None if not dyn.input_dim else torch.zeros(dyn.input_dim, dtype=torch.float64)
    h = post["latents"].values
    e = post["expansion_points"].values
    out: dict[str, Any] = {}
    with torch.no_grad():
        e_t = torch.as_tensor(e.reshape(-1, h.shape[-1]), dtype=torch.float64)
        speed = 0.5 * ((dyn.step(e_t, u_t) - e_t) ** 2).sum(-1)
    out["expansion_speed_median"] = float(speed.median())
    rms = max(float(np.sqrt(np.mean(np.linalg.norm(h, axis=-1) ** 2))), 1e-12)
    if points:
        z = torch.as_tensor(np.stack([p.z for p in points]), dtype=torch.float64)
        out["expansion_to_fixed_point_median"] = float(torch.cdist(e_t, z).min(1).values.median()) / rms
    else:
        out["expansion_to_fixed_point_median"] = None

    def step(zz: torch.Tensor) -> torch.Tensor:
        return dyn.step(zz, u_t)

    section: dict[str, Any] = {
        "expansion_modes": expansion_modes(
            step, e, data.dataset["time"].values, dyn.dt, n_anchors=int(cfg["expansion_anchors"])
        )
    }
    # without condition labels (e.g. NLB test files), each trial's posterior trajectory is its own condition
    labelled = len(set(np.asarray(data.conditions).astype(str).tolist())) >= 2
    try:
        summary, projection, names = jpca_comparison(
            step, h, e, data.conditions if labelled else None, dyn.dt, n_components=int(cfg["jpca_components"])
        )
    except ConfigError as exc:  # too few conditions or dimensions: say why, go on
        log.warning("no jPCA comparison: %s", exc)
        section["jpca"], section["jpca_skipped"] = None, str(exc)
        return out, section, None
    section["jpca"] = summary
    out["jpca_r2_skew"] = summary.get("r2_skew")
    out["jpca_plane_angle_deg"] = (summary.get("matched_angle_deg") or [None])[0]
    return out, section, (projection, names)


def distillation_step(
    dyn: Dynamics, visited: np.ndarray, points: list[FixedPoint], cfg: dict[str, Any]
) -> tuple[dict[str, Any], Any]:
    """The smallest low-rank tanh RNN reproducing the latent flow on the visited states
    (:mod:`neurodyn.analysis.distill`); a model with too few usable states is skipped with a reason."""
    if not cfg["distill"]:
        return {}, None
    try:
        distilled = distill_dynamics(
            dyn,
            visited,
            points,
            tol=float(cfg["distill_tol"]),
            max_neurons=int(cfg["distill_max_neurons"]),
            seed=int(cfg["seed"]),
        )
    except NeurodynError as exc:  # e.g. a runaway model with too few usable states: say so, go on
        log.warning("no distillation: %s", exc)
        return {"distill_skipped": str(exc)}, None
    return {
        "distill_n_neurons": distilled.n_neurons,
        "distill_rel_mse": distilled.rel_mse,
        "distill_fixed_points_same": distilled.comparison["same"],
    }, distilled


def evaluate(model: FittedModel, dataset: xr.Dataset, config: dict[str, Any] | None = None) -> AnalysisResult:
    """Run every step on the evaluation split of ``dataset`` (see the module docstring)."""
    cfg = resolve_config(config)
    data = EvaluationData.select(dataset, cfg["eval_split"])
    post = model.posterior(data.dataset)
    out: dict[str, Any] = {"eval_split": data.split, "n_eval_trials": int(data.y.shape[0])}
    predicted, r2 = prediction_step(data, post, cfg)
    decoded, behavior_section = behavior_step(model, dataset, data, post, cfg)
    locked, coherence = coherence_step(data, post)
    gen = generation_step(model, data, cfg)
    dyn = model.dynamics()
    visited = visited_states(post, gen.generated, dyn.latent_dim)
    points, fixed, dynamics_metrics, (tf_freqs, tf_gain), fixed_point_search = dynamics_step(dyn, post, visited, cfg)
    flow = flow_step(dyn, post)
    out.update(predicted | decoded | locked | gen.metrics)
    expansion, jpca_arrays = None, None
    if "expansion_points" in post:
        expanded, expansion, jpca_arrays = expansion_step(dyn, post, points, data, cfg)
        out.update(expanded)
    distill_metrics, distilled = distillation_step(dyn, visited, points, cfg)
    out.update(distill_metrics | dynamics_metrics)
    out.update(model.diagnostics(post, np.stack([p.z for p in points]) if points else np.zeros((0, dyn.latent_dim))))

    freqs, psd_real, psd_gen = gen.psd
    ev = data.dataset
    arrays = xr.Dataset(
        {
            "latents": (("trial", "time", "latent"), post["latents"].values),
            "prediction": (("trial", "time", "channel"), post["prediction"].values),
            "generated_latents": (("generated_trial", "generated_time", "latent"), gen.generated["latents"].values),
            "generated_data": (("generated_trial", "generated_time", "channel"), gen.generated["data"].values),
            "psd_recorded": (("channel", "frequency"), psd_real),
            "psd_generated": (("channel", "frequency"), psd_gen),
            "d_h_per_channel": (("channel",), gen.d_h_per_channel),
            "transfer_gain": (("fixed_point", "transfer_frequency"), tf_gain),
            "psth_r2" if data.kind == "counts" else "r2": (("channel",), r2),
        },
        coords={
            "trial": ev["trial"].values,
            "time": ev["time"].values,
            "channel": ev["channel"].values,
            "frequency": freqs,
            "condition": ("trial", data.conditions.astype(object)),
            "transfer_frequency": tf_freqs,
        },
    )
    for name, dims in FLOW_DIMS.items():
        if name in flow:
            arrays[name] = xr.Variable(dims[-flow[name].ndim :], flow[name])  # a 1-D map's flow_u is (flow_x,)
    if "expansion_points" in post:
        arrays["expansion_points"] = xr.Variable(("trial", "time", "latent"), post["expansion_points"].values)
    if jpca_arrays is not None:
        projection, names = jpca_arrays
        arrays["jpca_projection"] = xr.Variable(("jpca_condition", "time", "jpc"), projection)
        arrays = arrays.assign_coords(jpca_condition=np.asarray(names, dtype=object))
    if coherence is not None:
        arrays["coherence"] = xr.Variable(("latent", "channel", "coherence_frequency"), coherence[1])
        arrays = arrays.assign_coords(coherence_frequency=coherence[0])
    data_units = str(ev["data"].attrs.get("units", ""))
    scored_zscored = cfg["generation"] == "long" and cfg["zscore"]
    described = array_descriptions(data.kind, data_units, activity_units(data.kind, data_units, scored_zscored))
    for name, var in arrays.variables.items():
        units, long_name = described.get(name, ("1", name.replace("_", " ")))
        var.attrs.setdefault("units", units)
        var.attrs.setdefault("long_name", long_name)
    return AnalysisResult(
        metrics=_plain(out),
        protocol=_plain({**cfg, **gen.protocol}),
        fixed_points=fixed,
        arrays=arrays,
        spike_statistics=gen.spike_statistics,
        distillation=None if distilled is None else distilled.to_json(dyn.dt),
        expansion=expansion,
        behavior_decoding=behavior_section,
        fixed_point_search=_plain(fixed_point_search),
        about={
            "family": model.family,
            "fit": model.meta.get("fit", {}),
            "model_config": {**model.meta.get("config", {}), "seed": model.meta.get("seed", 0)},
            "training": model.training_curves(),
        },
    )


def activity_units(kind: str, data_units: str, zscored: bool = False) -> str:
    """Units of what generation is scored on (see :func:`activity`): counts → rate in Hz;
    continuous → the signal's units; ``1`` when z-scored (``zscore`` of the long protocol)."""
    if zscored:
        return "1"
    return "Hz" if kind == "counts" else data_units


def power_density_units(units: str) -> str:
    """Units of a one-sided power spectral density of a quantity in ``units`` (x²/Hz)."""
    if units in ("", "1"):
        return "1/Hz"
    return f"({units})^2/Hz" if any(c in units for c in " /*^") else f"{units}^2/Hz"


def array_descriptions(kind: str, data_units: str, activity: str) -> dict[str, tuple[str, str]]:
    """(units, long_name) of the variables of the analysis ``arrays`` (CF style: ``1`` for
    dimensionless quantities, ids and labels; latents are in the model's arbitrary units, ``1``).
    kind, data_units: the dataset's ``data``; activity: units of the scored activity."""
    per_bin = "expected spike count per bin" if kind == "counts" else "predicted signal"
    return {
        "time": ("s", "bin centre relative to the alignment event"),
        "frequency": ("Hz", "frequency of the power spectra"),
        "transfer_frequency": ("Hz", "frequency of the fixed points' transfer functions"),
        "coherence_frequency": ("Hz", "frequency of the latent-signal coherence"),
        "latents": ("1", "posterior latent state"),
        "expansion_points": ("1", "expansion point of the latent map"),
        "generated_latents": ("1", "latent state of free-running generation"),
        "prediction": (data_units, per_bin),
        "generated_data": (data_units, "free-running generated data"),
        "psd_recorded": (power_density_units(activity), "power spectral density of the recorded activity"),
        "psd_generated": (power_density_units(activity), "power spectral density of the generated activity"),
        "d_h_per_channel": ("1", "Hellinger distance between recorded and generated power spectra"),
        "transfer_gain": ("1", "largest singular value of the transfer function"),
        "psth_r2": ("1", "coefficient of determination of the predicted PSTH"),
        "r2": ("1", "coefficient of determination of the prediction"),
        "coherence": ("1", "magnitude-squared coherence between latent and signal"),
        "jpca_projection": ("1", "condition-averaged latents projected on the jPCA planes"),
        "flow_x": ("1", "flow-field lattice coordinate along its first axis"),
        "flow_y": ("1", "flow-field lattice coordinate along its second axis"),
        "flow_u": ("1", "one-step change F(z) - z of the latent map along the first axis"),
        "flow_v": ("1", "one-step change F(z) - z of the latent map along the second axis"),
        "flow_w": ("1", "one-step change F(z) - z normal to the plane of a 3-D map's section"),
        "flow_basis": ("1", "orthonormal axes of the flow-field plane in latent space"),
        "flow_centre": ("1", "latent state at the origin of the flow-field plane"),
    }


MAX_TRANSFER_POINTS = 16
TRANSFER_FREQUENCIES = 200


def fixed_point_transfer(dyn, points, u0, fixed: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Transfer function of the linearisation at each fixed point, up to the Nyquist frequency.

    Input: the model's inputs (B = ∂F/∂u at the fixed point) when it has any, else a perturbation of
    each latent (B = I); output: the latents (C = I). Adds ``transfer`` (input, peak_hz, peak_gain,
    dc_gain, selectivity) to each entry of ``fixed`` (aligned with ``points``) and returns
    (frequencies (F,), gain (len(points), F)), the gain being the largest singular value of H(ω).
    """
    freqs = np.linspace(0.0, 0.5 / dyn.dt, TRANSFER_FREQUENCIES)
    gains = np.zeros((len(points), freqs.size))
    for i, point in enumerate(points):
        if dyn.input_dim:
            z = torch.as_tensor(point.z, dtype=torch.float64)
            u = torch.as_tensor(u0, dtype=torch.float64)
            # one reverse pass per latent (no torch.func transform: its first use loads torch._dynamo)
            B = row_jacobians(lambda uu, z=z: dyn.step(z, uu[0]).double().reshape(1, -1), u[None])[0].cpu().numpy()
            source = "inputs"
        else:
            B, source = np.eye(dyn.latent_dim), "latent perturbation"
        res = spectral.resonance(
            freqs, spectral.transfer_function(point.jacobian, B, np.eye(dyn.latent_dim), freqs, dyn.dt)
        )
        gains[i] = res.pop("gain")
        fixed[i]["transfer"] = {"input": source, **{k: v if np.isfinite(v) else None for k, v in res.items()}}
    return freqs, gains


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
