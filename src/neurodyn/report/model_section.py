"""One model's section of the dataset report: facts, figures (generation, latents, eigenvalues,
spectra, coherence, transfer, expansion points), fixed-point table, protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from markupsafe import Markup

from neurodyn.report import figures as fg
from neurodyn.report.formatting import format_number, format_value, readable_key
from neurodyn.report.page import FigureWriter, html_table, macros, render, table_cell, text_cell
from neurodyn.report.results import ModelResult
from neurodyn.report.summary import fixed_point_search_sentence

FIXED_POINT_HEADER = (
    "#",
    "kind",
    "stable",
    "spectral radius",
    "slowest mode τ (s)",
    "slowest mode f (Hz)",
    "rotating mode f (Hz)",
    "rotating mode τ (s)",
    "found by",
)


def model_section(ds: xr.Dataset, model: ModelResult, key: str, writer: FigureWriter, sentence: str = "") -> Markup:
    """The section ``model-<key>`` of one model: its summary ``sentence``, facts, figures, fixed
    points and, collapsed, its options, fit record and evaluation protocol."""
    fit = model.fit or {}
    metrics = model.metrics or {}
    facts = [
        (
            "evaluated on",
            f"{format_value(metrics.get('n_eval_trials'))} {format_value(metrics.get('eval_split'))} trials",
        ),
        ("fit time (s)", fit.get("seconds")),
        ("device", fit.get("device")),
    ]
    return render(
        "dataset/model.html",
        model=model,
        key=key,
        sentence=sentence,
        facts=facts,
        figures=model_figures(ds, model, key, writer),
        fixed_points=fixed_point_table(model.fixed_points or []),
        search_note=fixed_point_search_sentence(model.fixed_point_search or {}),
        record=fit_record(model),
        options=_options_table(model.config or {}),
        resumes=_resume_table(fit.get("resumes") or []),
    )


def fit_record(model: ModelResult) -> list[tuple[str, Any]]:
    """What a reader needs to reproduce the fit: seed, device, wall time, threads, when, versions."""
    fit = model.fit or {}
    versions = fit.get("versions") or {}
    record: list[tuple[str, Any]] = [
        ("family", model.family),
        ("seed", (model.config or {}).get("seed")),
        ("device", fit.get("device")),
        ("wall time (s)", fit.get("seconds")),
    ]
    if fit.get("threads") is not None:
        record.append(("CPU threads", fit.get("threads")))
    if fit.get("started"):
        record.append(("fitted", f"{fit.get('started')} to {fit.get('finished') or '?'}"))
    if model.training:
        steps = model.training.get("steps") or []
        record.append(("training", f"{len(steps)} {model.training.get('x', 'steps')}s recorded"))
    for name in ("neurodyn", "python", "torch", "numpy", "cuda", "gpu"):
        if versions.get(name):
            record.append((name, versions[name]))
    return record


def _options_table(config: dict[str, Any]) -> Markup:
    """The model's resolved options, one row each ('' without any)."""
    if not config:
        return Markup()
    rows = [[text_cell(str(k), tag="th"), table_cell(v)] for k, v in sorted(config.items())]
    return html_table(["option", "value"], rows, css_class="options")


def _resume_table(resumes: Sequence[dict[str, Any]]) -> Markup:
    """Each resume of the fit from a checkpoint ('' when it ran in one go)."""
    if not resumes:
        return Markup()
    header = sorted({k for r in resumes for k in r})
    rows = [[table_cell(r.get(k)) for k in header] for r in resumes]
    return html_table([readable_key(k) for k in header], rows)


def fixed_point_table(points: Sequence[dict[str, Any]]) -> Markup:
    """One row per fixed point with its linearised modes ('' without any)."""
    if not points:
        return Markup()
    rows = []
    for i, p in enumerate(points):
        taus = list(p.get("time_constants_s", []) or [])
        freqs = list(p.get("frequencies_hz", []) or [])
        tau = taus[0] if taus else None
        rows.append(
            [
                table_cell(i),
                table_cell(p.get("kind")),
                table_cell(p.get("stable")),
                table_cell(p.get("spectral_radius")),
                text_cell("∞") if taus and tau is None else table_cell(tau),
                table_cell(freqs[0] if freqs else None),
                table_cell(p.get("rotation_hz")),
                table_cell(p.get("rotation_time_constant_s")),
                table_cell(p.get("found_by") or p.get("method")),
            ]
        )
    return html_table(FIXED_POINT_HEADER, rows, css_class="fixed-points")


def _recorded_trial(ds: xr.Dataset, arrays: xr.Dataset) -> tuple[np.ndarray, str]:
    """(time, channel) recorded values of the first evaluation trial (NaN where unobserved), title.

    Falls back to the dataset's first trial when the arrays name no trial found in the dataset.
    """
    position = 0
    if "trial" in arrays.coords and arrays.sizes.get("trial", 0):
        matches = np.flatnonzero(ds["trial"].values == arrays["trial"].values[0])
        position = int(matches[0]) if matches.size else 0
    values = ds["data"].values[position].astype(np.float64)
    if "mask" in ds:
        values = np.where(ds["mask"].values[position], values, np.nan)
    return values, f"recorded: {fg.trial_title(ds, position)}"


def model_figures(ds: xr.Dataset, model: ModelResult, key: str, writer: FigureWriter) -> list[Markup]:
    """Figures of one model: those needing evaluation arrays are skipped when they are absent."""
    arrays = model.arrays if model.arrays is not None else xr.Dataset()
    kind = fg.data_kind(ds)
    out = []
    if "generated_data" in arrays and arrays.sizes.get("generated_trial", 0):

        def generated():
            recorded, title = _recorded_trial(ds, arrays)
            sample = arrays["generated_data"].isel(generated_trial=0).values
            n = min(len(recorded), len(sample))  # a long generated trajectory is shown over one trial
            return fg.recorded_vs_generated_figure(
                recorded[:n],
                sample[:n],
                ds["time"].values[:n],
                kind=kind,
                heldout=fg.heldout_mask(ds),
                units=str(ds["data"].attrs.get("units", "")),
                names=fg.channel_names(ds),
                time_axis_label=fg.time_label(ds),
                recorded_title=title,
                generated_title="generated: free-running sample 0",
            )

        out.append(
            writer.embed(
                f"generated_{key}", generated, "One recorded evaluation trial and one trial generated by the model."
            )
        )
    psth = _psth_figure(ds, model, arrays, key, writer)
    if psth is not None:
        out.append(psth)
    flow = {str(name): arrays[name].values for name in arrays.variables if str(name).startswith("flow_")}
    if "flow_u" in flow:
        out.append(
            writer.embed(
                f"flow_{key}",
                lambda: fg.flow_field_figure(
                    flow,
                    model.fixed_points or [],
                    arrays["latents"].values if "latents" in arrays else None,
                    title=f"{model.name}: flow of the latent map",
                ),
                _flow_caption(flow),
            )
        )
    if "latents" in arrays and arrays.sizes.get("trial", 0):
        conditions = arrays["condition"].values if "condition" in arrays.coords else None
        out.append(
            writer.embed(
                f"latents_{key}",
                lambda: fg.latent_trajectories_figure(
                    arrays["latents"].values,
                    conditions,
                    model.fixed_points or [],
                    title=f"{model.name}: posterior latents",
                    time=arrays["time"].values if "time" in arrays.coords else None,
                    expansion_points=arrays["expansion_points"].values if "expansion_points" in arrays else None,
                ),
                "Posterior latent trajectories projected on their first two principal components; "
                "fixed points projected alike (filled = stable, open = unstable)"
                + (
                    "; grey crosses: the expansion points the model linearises around."
                    if "expansion_points" in arrays
                    else "."
                ),
            )
        )
    out.append(
        writer.embed(
            f"eigenvalues_{key}",
            lambda: fg.eigenvalue_figure(model.fixed_points or []),
            "Jacobian eigenvalues of each fixed point with the unit circle; "
            "leading modes annotated with time constant τ and frequency f.",
        )
    )
    if "psd_recorded" in arrays and "psd_generated" in arrays and "frequency" in arrays.coords:
        units = "spikes/s" if kind == "counts" else str(ds["data"].attrs.get("units", "")) or "a.u."
        out.append(
            writer.embed(
                f"spectra_{key}",
                lambda: fg.spectra_figure(
                    arrays["frequency"].values,
                    arrays["psd_recorded"].values,
                    arrays["psd_generated"].values,
                    activity_units=units,
                    recorded_peak_hz=(model.metrics or {}).get("recorded_peak_hz"),
                    generated_peak_hz=(model.metrics or {}).get("generated_peak_hz"),
                ),
                "Welch power spectra of recorded and generated activity"
                + (" (smoothed rates)" if kind == "counts" else "")
                + "; dotted lines: each spectrum's peak above 0 Hz, the free run's dominant rhythm.",
            )
        )
    if "coherence" in arrays and "coherence_frequency" in arrays.coords:
        out.append(
            writer.embed(
                f"coherence_{key}",
                lambda: fg.coherence_figure(arrays["coherence_frequency"].values, arrays["coherence"].values),
                "Magnitude-squared coherence (Welch) between each posterior latent and the recorded channels.",
            )
        )
    points = (model.fixed_points or [])[: arrays.sizes.get("fixed_point", 0)]
    if "transfer_gain" in arrays and points:
        stable = [bool(p.get("stable")) for p in points]
        source = (points[0].get("transfer") or {}).get("input", "inputs")
        out.append(
            writer.embed(
                f"transfer_{key}",
                lambda: fg.transfer_figure(
                    arrays["transfer_frequency"].values, arrays["transfer_gain"].values[: len(points)], stable
                ),
                f"Gain of the linearised response ({source} → latents) at each fixed point, up to the Nyquist "
                f"frequency; blue: stable, red: unstable." + _selectivity_note(points),
            )
        )
    out.extend(_expansion_figures(model, arrays, key, writer))
    if (model.training or {}).get("series"):
        out.append(
            writer.embed(
                f"training_{key}",
                lambda: fg.training_curves_figure(model.training),
                f"Training curves per {model.training.get('x', 'step')} as the fit recorded them (★: best value)"
                + "".join(f"; {label}: {text}" for label, text in (model.training.get("definitions") or {}).items())
                + ".",
            )
        )
    if model.arrays is None:
        out.append(macros().note("No evaluation arrays: data figures skipped."))
    return out


# units whose predicted and recorded PSTHs are drawn: the best predicted
PSTH_UNITS = 4
PSTH_CONDITIONS = 4


def _psth_figure(
    ds: xr.Dataset, model: ModelResult, arrays: xr.Dataset, key: str, writer: FigureWriter
) -> Markup | None:
    """Counts: predicted vs recorded condition-averaged rates of the best-predicted units (by PSTH
    R²) on the evaluation trials; None when the arrays lack what it needs."""
    if fg.data_kind(ds) != "counts" or "prediction" not in arrays or "psth_r2" not in arrays:
        return None
    trials = arrays["trial"].values if "trial" in arrays.coords else None
    if trials is None or not np.isin(trials, ds["trial"].values).all():
        return None
    ev = ds.sel(trial=trials)
    r2 = arrays["psth_r2"].values
    units = fg.best_units(r2, PSTH_UNITS)
    if units.size == 0:
        return None
    bin_size = float(ds.attrs.get("bin_size_s", 1.0))
    smoothing = float((model.protocol or {}).get("smoothing_s", 0.05)) / bin_size
    labels = ev["condition"].values if "condition" in ev else np.zeros(ev.sizes["trial"], int)
    mask = ev["mask"].values if "mask" in ev else np.ones(ev["data"].shape, bool)
    labels_all, recorded = fg.condition_psths(
        ev["data"].values[..., units], mask[..., units], labels, smooth_bins=smoothing, scale=1.0 / bin_size
    )
    _, predicted = fg.condition_psths(
        arrays["prediction"].values[..., units], mask[..., units], labels, scale=1.0 / bin_size
    )
    shown = slice(0, PSTH_CONDITIONS)  # more conditions than this hide each other
    names, recorded, predicted = list(labels_all)[shown], recorded[shown], predicted[shown]
    heldout = fg.heldout_mask(ds)
    channel_names = fg.channel_names(ds)
    unit_names = [f"{channel_names[u]}{' (held out)' if heldout[u] else ''}" for u in units]
    return writer.embed(
        f"psth_{key}",
        lambda: fg.psth_comparison_figure(
            ev["time"].values,
            recorded,
            predicted,
            [str(n) for n in names],
            unit_names,
            time_axis_label=fg.time_label(ds),
            scores=r2[units],
        ),
        f"Recorded (solid, Gaussian-smoothed) and predicted (dashed) condition-averaged rates of the {units.size} "
        f"units the model predicts best (PSTH R² in each title), on the {len(trials)} evaluation trials"
        + (f"; the first {len(names)} conditions." if len(labels_all) > len(names) else "."),
    )


def _flow_caption(flow: dict[str, np.ndarray]) -> str:
    """What the flow-field figure shows, by the latent dimension."""
    dims = flow["flow_basis"].shape[0] if "flow_basis" in flow else 2
    if dims == 1:
        return "The latent map's one-step change Δz = F(z) − z against z, with its fixed points (zero crossings)."
    what = (
        "the flow F(z) − z of the latent map at zero input"
        if dims == 2
        else "a section of the 3-D flow F(z) − z through the plane of the states' top two principal components "
        "(the in-plane part)"
    )
    nullclines = "; lines: nullclines, where one component of the flow vanishes" if dims == 2 else ""
    return (
        f"Streamlines of {what}, coloured by speed{nullclines}; fixed points filled when stable, open when "
        "not; thin lines: posterior latent trajectories."
    )


def _expansion_figures(model: ModelResult, arrays: xr.Dataset, key: str, writer: FigureWriter) -> list[Markup]:
    """Expansion-point eigenmodes and the jPCA comparison of a model that linearises its map at
    expansion points (none otherwise)."""
    out = []
    anchors = (model.expansion or {}).get("expansion_modes") or []
    if anchors:
        out.append(
            writer.embed(
                f"expansion_modes_{key}",
                lambda: fg.expansion_modes_figure(anchors),
                "Eigenvalues of the Jacobian of the latent map at the model's expansion points sampled along the trial "
                "(the expansion point nearest the across-trial mean at each time), and each mode's frequency "
                "against its decay time constant.",
            )
        )
    jpc = (model.expansion or {}).get("jpca")
    if jpc and "jpca_projection" in arrays:
        random = format_number(jpc.get("random_plane_angle_deg"))
        out.append(
            writer.embed(
                f"jpca_{key}",
                lambda: fg.jpca_figure(
                    arrays["jpca_projection"].values,
                    np.asarray(jpc["angles_deg"], dtype=float),
                    jpc["jpca_frequencies_hz"],
                    jpc["expansion_frequencies_hz"],
                ),
                f"jPCA of the {'condition-averaged' if jpc.get('grouping') == 'conditions' else 'single-trial'} "
                f"latent states ({jpc['n_conditions']} {jpc.get('grouping', 'conditions')}, top "
                f"{jpc['n_components']} PCs; skew-symmetric fit R² {format_number(jpc['r2_skew'])} vs "
                f"{format_number(jpc['r2_unconstrained'])} unconstrained) against the eigen-planes of the Jacobian at the "
                f"central expansion point: mean principal angles; two random planes of this state space make "
                f"{random}°.",
            )
        )
    return out


def _selectivity_note(points: Sequence[dict[str, Any]]) -> str:
    """A sentence when stable fixed points resonate at different frequencies (state-dependent
    frequency selectivity), else ''."""
    peaks = [
        (i, p["transfer"]["peak_hz"])
        for i, p in enumerate(points)
        if p.get("stable") and (p.get("transfer") or {}).get("peak_hz") is not None
    ]
    if len(peaks) < 2:
        return ""
    values = [f for _, f in peaks]
    if max(values) - min(values) <= 1e-9 + 0.02 * max(abs(v) for v in values):
        return ""
    listed = ", ".join(f"fixed point {i}: {format_number(f)} Hz" for i, f in peaks)
    return (
        f" State-dependent frequency selectivity: the stable fixed points resonate at different frequencies ({listed})."
    )
