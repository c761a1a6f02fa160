"""Evaluate a fitted model on a dataset: held-out prediction, generated data, fixed points.

Everything is computed on the evaluation split (``test`` by default; ``valid``, then ``train``
when the dataset has no such trials — the split used is recorded):

* prediction — counts: co-smoothing bits/spike on held-out channels, PSTH R² (held-in and
  held-out channels), Poisson log-likelihood per bin; continuous: R² on held-out and held-in
  channels;
* spike statistics (counts) — firing rates, ISI CVs and pairwise correlations of generated vs
  evaluation trials (:mod:`neurodyn.analysis.spike_stats`);
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
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.analysis import metrics, spectral
from neurodyn.analysis.distill import distill_dynamics
from neurodyn.analysis.expansion import expansion_modes, jpca_comparison
from neurodyn.analysis.fixed_points import classify, find_fixed_points
from neurodyn.analysis.spike_stats import compare_spike_statistics
from neurodyn.data.smoothing import smooth_in_time
from neurodyn.errors import ConfigError, NeurodynError
from neurodyn.models.base import FittedModel
from neurodyn.options import Options, option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisOptions(Options):
    """How a fitted model is evaluated: the `analysis` section, global or per dataset."""

    eval_split: str = option(
        "test", "trials the model is scored on (falls back to valid, then train)", choices=("train", "valid", "test")
    )
    smoothing_s: float = option(0.05, "Gaussian smoothing of spike counts into rates, seconds (sd)", ge=0)
    dstsp_dims: int = option(3, "principal components of the recorded activity that D_stsp compares in", ge=1)
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
    seed: int = option(0, "seed of free-running generation and of D_stsp's sampling")
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
    coherence = None
    if kind == "continuous" and y.shape[1] >= 8:
        # how strongly each posterior latent is locked to each recorded channel, per frequency
        coh_freqs, coh = metrics.latent_signal_coherence(
            post["latents"].values, np.nan_to_num(y * observed), 1.0 / bin_size
        )
        coherence = (coh_freqs, coh)
        band = coh[..., coh_freqs > 0]
        out["latent_coherence_max"] = float(np.nanmax(band)) if np.isfinite(band).any() else None

    # --- free-running generation, compared with the recording ---
    inputs = torch.as_tensor(ev["inputs"].values, dtype=torch.float64) if "inputs" in ev else None
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
    if long:
        real_cmp, gen_cmp = long_protocol(real_long, gen_act[0], burn, cfg)
        real_act, gen_act = real_cmp[None], gen_cmp[None]
        generated = generated.isel(time=slice(burn, None))
        out["generated_steps"], out["burn_in_steps"], out["reference_steps"] = n_gen, burn, int(real_long.shape[0])
    real_flat = np.nan_to_num(real_act.reshape(-1, real_act.shape[-1]))
    gen_flat = gen_act.reshape(-1, gen_act.shape[-1])
    k = int(min(cfg["dstsp_dims"], real_flat.shape[1]))
    # a free run that blows up (an unstable reconstruction) has no state-space or spectral
    # comparison: its metrics are missing, and it is flagged rather than failing the analysis
    diverged = not bool(np.isfinite(gen_flat).all())
    out["generation_diverged"] = diverged
    real_clean = np.nan_to_num(real_act)
    if diverged:
        log.warning("the free-running model diverged (non-finite values): generation metrics are left out")
        out.update(d_stsp=None, d_h=None, pse=None, pse_low=None, pse_high=None)
        d_h_channels = np.full(real_act.shape[-1], np.nan)
        sigma_used = None
    else:
        centre, axes = _principal_axes(real_flat, k)
        out["d_stsp"] = metrics.state_space_divergence(
            (real_flat - centre) @ axes,
            (gen_flat - centre) @ axes,
            n_bins=int(cfg["dstsp_bins"]),
            seed=int(cfg["seed"]),
        )
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

    # --- dynamics ---
    dyn = model.dynamics()
    u0 = np.zeros(dyn.input_dim) if dyn.input_dim else None
    # states the model visits (posterior and generated): Newton starts, and where it is distilled
    visited = np.concatenate(
        [post["latents"].values.reshape(-1, dyn.latent_dim), generated["latents"].values.reshape(-1, dyn.latent_dim)]
    )
    visited = visited[np.isfinite(visited).all(axis=1)]
    starts = None
    expansion = post["expansion_points"].values.reshape(-1, dyn.latent_dim) if "expansion_points" in post else None
    if dyn.structure is None:
        rng = np.random.default_rng(int(cfg["seed"]))
        starts = visited[rng.choice(len(visited), size=min(len(visited), 512), replace=False)]
        if expansion is not None:  # JSLDS expansion points are trained to sit on fixed points
            starts = np.concatenate(
                [starts, expansion[rng.choice(len(expansion), size=min(len(expansion), 256), replace=False)]]
            )
        starts = torch.as_tensor(starts)
    points = find_fixed_points(dyn, u0, states=starts)
    jslds_analysis, jpca_arrays = None, None
    if expansion is not None:
        out.update(jslds_metrics(post, dyn, points, u0, y, observed, heldout, kind))
        jslds_analysis, jpca_arrays = jslds_planes(post, dyn, u0, conditions, ev["time"].values, cfg)
        jpc = jslds_analysis.get("jpca") or {}
        out["jpca_r2_skew"] = jpc.get("r2_skew")
        out["jpca_jslds_angle_deg"] = (jpc.get("matched_angle_deg") or [None])[0]
    distilled = None
    if cfg["distill"]:
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
            out["distill_skipped"] = str(exc)
    if distilled is not None:
        out["distill_n_neurons"] = distilled.n_neurons
        out["distill_rel_mse"] = distilled.rel_mse
        out["distill_fixed_points_same"] = distilled.comparison["same"]
    fixed = [{**p.to_json(dyn.dt), "kind": classify(p.eigenvalues)} for p in points]
    tf_freqs, tf_gain = fixed_point_transfer(dyn, points[:MAX_TRANSFER_POINTS], u0, fixed)
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
            "generated_latents": (("generated_trial", "generated_time", "latent"), generated["latents"].values),
            "generated_data": (("generated_trial", "generated_time", "channel"), generated["data"].values),
            "psd_recorded": (("channel", "frequency"), psd_real),
            "psd_generated": (("channel", "frequency"), psd_gen),
            "d_h_per_channel": (("channel",), d_h_channels),
            "transfer_gain": (("fixed_point", "transfer_frequency"), tf_gain),
            "psth_r2" if kind == "counts" else "r2": (("channel",), r2),
        },
        coords={
            "trial": ev["trial"].values,
            "time": ev["time"].values,
            "channel": ev["channel"].values,
            "frequency": freqs,
            "condition": ("trial", conditions.astype(object)),
            "transfer_frequency": tf_freqs,
        },
    )
    if expansion is not None:
        arrays["expansion_points"] = xr.Variable(("trial", "time", "latent"), post["expansion_points"].values)
    if jpca_arrays is not None:
        projection, names = jpca_arrays
        arrays["jpca_projection"] = xr.Variable(("jpca_condition", "time", "jpc"), projection)
        arrays = arrays.assign_coords(jpca_condition=np.asarray(names, dtype=object))
    if coherence is not None:
        arrays["coherence"] = xr.Variable(("latent", "channel", "coherence_frequency"), coherence[1])
        arrays = arrays.assign_coords(coherence_frequency=coherence[0])
    for name, var in arrays.variables.items():
        var.attrs.setdefault("units", "1")
        var.attrs.setdefault("long_name", name.replace("_", " "))
    result = {"metrics": _plain(out), "protocol": _plain(protocol)}
    if spike_statistics is not None:
        result["spike_statistics"] = spike_statistics
    if distilled is not None:
        result["distillation"] = distilled.to_json(dyn.dt)
    if jslds_analysis is not None:
        result["jslds_analysis"] = jslds_analysis
    return result, arrays, fixed


def jslds_planes(
    post: xr.Dataset, dyn, u0, conditions: np.ndarray, time: np.ndarray, cfg: dict[str, Any]
) -> tuple[dict[str, Any], tuple[np.ndarray, list[str]] | None]:
    """The JSLDS's linear dynamics along the trial and their rotation planes against jPCA
    (:mod:`neurodyn.analysis.expansion`): ``{"expansion_modes": [...], "jpca": {...} or None,
    "jpca_skipped": reason}`` and (jPCA projection (C, T, 2), condition labels) or None."""
    u_t = None if u0 is None else torch.as_tensor(u0, dtype=torch.float64)

    def step(z: torch.Tensor) -> torch.Tensor:
        return dyn.step(z, u_t)

    e = post["expansion_points"].values
    out: dict[str, Any] = {
        "expansion_modes": expansion_modes(step, e, time, dyn.dt, n_anchors=int(cfg["expansion_anchors"]))
    }
    # without condition labels (e.g. NLB test files), each trial's posterior trajectory is its own condition
    labelled = len(set(np.asarray(conditions).astype(str).tolist())) >= 2
    try:
        summary, projection, names = jpca_comparison(
            step,
            post["latents"].values,
            e,
            conditions if labelled else None,
            dyn.dt,
            n_components=int(cfg["jpca_components"]),
        )
    except ConfigError as exc:  # too few conditions or dimensions: say why, go on
        log.warning("no jPCA comparison: %s", exc)
        out["jpca"], out["jpca_skipped"] = None, str(exc)
        return out, None
    out["jpca"] = summary
    return out, (projection, names)


def jslds_metrics(
    post: xr.Dataset, dyn, points, u0, y: np.ndarray, observed: np.ndarray, heldout: np.ndarray, kind: str
) -> dict[str, Any]:
    """How well a co-trained JSLDS stands in for its nonlinear RNN (Smith, Linderman & Sussillo 2021).

    * ``jslds_relative_error``: mean over trials and steps of ‖h_t − a_t‖ / ‖h_t‖ (posterior
      means of the RNN and JSLDS states);
    * ``jslds_co_bps``: co-smoothing bits/spike of the rates read out from the JSLDS states;
    * ``expansion_speed_median``: median of ½‖F(e*, u0) − e*‖² over the expansion points
      (u0 = zero input), the q the fixed-point finder minimises;
    * ``expansion_to_fixed_point_median``: median distance from an expansion point to the nearest
      numerical fixed point, relative to the RMS norm of the RNN states (None without fixed points).
    """
    h = post["latents"].values
    a = post["jslds_latents"].values
    e = post["expansion_points"].values.reshape(-1, h.shape[-1])
    out: dict[str, Any] = {}
    norms = np.linalg.norm(h, axis=-1)
    out["jslds_relative_error"] = float(np.mean(np.linalg.norm(h - a, axis=-1) / np.maximum(norms, 1e-12)))
    pred = post["prediction_jslds"].values
    if kind == "counts" and heldout.any() and (y[:, :, heldout] * observed[:, :, heldout]).sum() > 0:
        out["jslds_co_bps"] = metrics.bits_per_spike(y[:, :, heldout], pred[:, :, heldout], observed[:, :, heldout])
    with torch.no_grad():
        e_t = torch.as_tensor(e, dtype=torch.float64)
        u_t = None if u0 is None else torch.as_tensor(u0, dtype=torch.float64)
        speed = 0.5 * ((dyn.step(e_t, u_t) - e_t) ** 2).sum(-1)
    out["expansion_speed_median"] = float(speed.median())
    if points:
        z = torch.as_tensor(np.stack([p.z for p in points]), dtype=torch.float64)
        dist = torch.cdist(e_t, z).min(1).values
        out["expansion_to_fixed_point_median"] = float(dist.median()) / max(float(np.sqrt(np.mean(norms**2))), 1e-12)
    else:
        out["expansion_to_fixed_point_median"] = None
    return out


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
            B = torch.func.jacrev(lambda uu, z=z: dyn.step(z, uu).double())(u).detach().cpu().numpy()
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
