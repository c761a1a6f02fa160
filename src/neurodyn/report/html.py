"""Self-contained HTML reports: one page per dataset and a cross-dataset index.

Pages are assembled with :func:`html.escape` and string formatting only. Every figure is embedded
as a base64 PNG (``<img src="data:image/png;base64,...">``) and styles are inline, so a page
references no external resource. With ``figures_dir`` each figure is also written there as a PNG
with a stable name (see :func:`build_report`).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn.analysis.evaluate import AnalysisResult
from neurodyn.analysis.metrics.registry import metric_registry
from neurodyn.data.dataset import summary
from neurodyn.metric_spec import MetricSpec
from neurodyn.models import FAMILIES
from neurodyn.report import figures as fg
from neurodyn.report import sweeps
from neurodyn.version import __version__

log = logging.getLogger(__name__)

MISSING = "—"


@dataclass
class ModelResult:
    """Everything the report shows about one fitted model.

    metrics: evaluation metrics (any may be missing or None); protocol: how they were computed;
    fixed_points: dicts with z, stable, kind, eigenvalues ([re, im]), time_constants_s,
    frequencies_hz, spectral_radius, method; arrays: evaluation arrays (latents (trial, time,
    latent), prediction, generated_latents, generated_data, psd_recorded / psd_generated
    (channel, frequency), ...); fit: e.g. {"seconds": 1.2, "device": "cpu"}; config: the fitted
    model's options (with ``seed``), from which sweeps among models are found; distillation: the
    smallest low-rank tanh RNN of the latent map (:mod:`neurodyn.analysis.distill`); expansion: the
    expansion-point modes and the jPCA comparison of a model that linearises its map at expansion
    points (:func:`neurodyn.analysis.evaluate.expansion_step`).
    """

    name: str
    family: str
    metrics: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    fixed_points: list[dict[str, Any]] = field(default_factory=list)
    arrays: xr.Dataset | None = None
    fit: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    distillation: dict[str, Any] = field(default_factory=dict)
    expansion: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, name: str, result: AnalysisResult) -> ModelResult:
        """What the report shows of an analysis result (family, fit and options from ``result.about``)."""
        return cls(
            name=name,
            family=result.about.get("family", "?"),
            metrics=result.metrics,
            protocol=result.protocol,
            fixed_points=result.fixed_points,
            arrays=result.arrays,
            fit=result.about.get("fit", {}),
            config=result.about.get("model_config", {}),
            distillation=result.distillation or {},
            expansion=result.expansion or {},
        )


@dataclass(frozen=True)
class MetricColumn:
    """One column of a model table: a metric's key, header label (with unit), which direction is
    better (None: not ranked) and its one-sentence definition (the header's tooltip)."""

    key: str
    label: str
    better: str | None = None
    definition: str = ""

    @classmethod
    def of(cls, spec: MetricSpec) -> MetricColumn:
        return cls(spec.key, f"{spec.label} ({spec.unit})" if spec.unit else spec.label, spec.better, spec.definition)


def metric_specs() -> dict[str, MetricSpec]:
    """Every metric the analysis and the registered families declare, by key."""
    return metric_registry(FAMILIES.values())


# the headline columns of the cross-dataset index
INDEX_KEYS = ("co_bps", "psth_r2_heldout", "r2_heldout", "d_stsp", "d_h", "leading_oscillation_hz")


SUMMARY_LABELS: dict[str, str] = {
    "kind": "kind",
    "n_trials": "trials",
    "n_time_bins": "time bins per trial",
    "n_channels": "channels",
    "n_heldout_channels": "held-out channels",
    "bin_size_s": "bin size (s)",
    "window_s": "window (s)",
    "align_event": "aligned to",
    "splits": "trials per split",
    "fraction_observed": "fraction of bins observed",
    "total_spikes": "total spikes",
    "mean_rate_hz": "mean rate (Hz)",
    "median_rate_hz": "median rate (Hz)",
    "units": "units",
    "mean": "mean",
    "std": "standard deviation",
    "n_conditions": "conditions",
    "inputs": "inputs",
    "behavior": "behavioural variables",
    "source": "source",
    "source_sha256": "source SHA-256",
    "created_by": "created by",
    "config_hash": "config hash",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 1em 2em 3em; color: #1d1d1f; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: #d9f2d9; font-weight: bold; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: 0.15em 1em; font-size: 0.9em; }
dl.meta dt { font-weight: bold; } dl.meta dd { margin: 0; word-break: break-all; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figures figure { flex: 1 1 480px; }
.note { color: #666; font-style: italic; }
details { margin: 0.6em 0; } summary { cursor: pointer; font-weight: bold; }
pre { background: #f7f7f9; padding: 0.6em; overflow-x: auto; font-size: 0.8em; }
code { font-size: 0.9em; } nav ul { columns: 2; } .legend-best { background: #d9f2d9; padding: 0 0.3em; }
"""


# ----------------------------------------------------------------------------- formatting


def format_number(value: float, digits: int = 3) -> str:
    """Fixed-point with ``digits`` decimals; 3 significant digits when very large or small."""
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    magnitude = abs(value)
    if magnitude >= 1e4 or 0 < magnitude < 10**-digits:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def format_value(value: Any) -> str:
    """Plain text for one value: None / NaN → '—', numbers via :func:`format_number`."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_number(float(value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(format_value(v) for v in value) or MISSING
    text = str(value)
    return text if text else MISSING


def numeric(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, strings, None, NaN)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def best_indices(values: Sequence[Any], better: str | None) -> set[int]:
    """Positions holding the best value ('higher' or 'lower' is better); empty unless ≥ 2 compare."""
    if better not in ("higher", "lower"):
        return set()
    numbers = [(i, v) for i, v in enumerate(numeric(x) for x in values) if v is not None]
    if len(numbers) < 2:
        return set()
    pick = max if better == "higher" else min
    best = pick(v for _, v in numbers)
    return {i for i, v in numbers if v == best}


def readable_key(key: str) -> str:
    """'frequency_hz' → 'frequency (Hz)', 'period_s' → 'period (s)', other '_' → ' '."""
    for suffix, unit in (("_hz", "Hz"), ("_s", "s")):
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ')} ({unit})"
    return key.replace("_", " ")


def slug(text: str) -> str:
    """A file- and anchor-safe name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "model"


def table_cell(value: Any, *, best: bool = False, tag: str = "td") -> str:
    classes = []
    if numeric(value) is not None:
        classes.append("num")
    if best:
        classes.append("best")
    attr = f' class="{" ".join(classes)}"' if classes else ""
    title = ' title="best"' if best else ""
    return f"<{tag}{attr}{title}>{escape(format_value(value))}</{tag}>"


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, css_class: str = "") -> str:
    """A table from escaped header labels and rows of ready ``<td>`` cells."""
    cls = f' class="{css_class}"' if css_class else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    return f"<table{cls}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _json_details(summary_text: str, payload: Any) -> str:
    text = json.dumps(payload, indent=2, sort_keys=True, default=_json_default)
    return f"<details><summary>{escape(summary_text)}</summary><pre>{escape(text)}</pre></details>"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def html_document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


# ----------------------------------------------------------------------------- figures


class FigureWriter:
    """Renders figures to embedded PNGs, optionally also writing ``<figures_dir>/<name>.png``."""

    def __init__(self, figures_dir: Path | None = None) -> None:
        self.figures_dir = Path(figures_dir) if figures_dir is not None else None
        self.written: list[Path] = []
        if self.figures_dir is not None:
            self.figures_dir.mkdir(parents=True, exist_ok=True)

    def embed(self, name: str, make: Callable[[], Any], caption: str) -> str:
        """``<figure>`` HTML for the figure ``make()`` returns; a note instead if drawing fails."""
        try:
            png = fg.figure_png(make())
        except Exception as exc:  # a broken figure must not lose the whole report
            log.warning("report figure %s could not be drawn: %s: %s", name, type(exc).__name__, exc)
            return f'<p class="note">Figure {escape(name)} could not be drawn ({escape(type(exc).__name__)}).</p>'
        if self.figures_dir is not None:
            path = self.figures_dir / f"{name}.png"
            path.write_bytes(png)
            self.written.append(path)
        data = base64.b64encode(png).decode("ascii")
        return (
            f'<figure id="fig-{escape(name)}"><img src="data:image/png;base64,{data}" '
            f'alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
        )


# ----------------------------------------------------------------------------- report sections


def _header(ds: xr.Dataset, title: str) -> str:
    attrs = ds.attrs
    source = str(attrs.get("source", "")) or MISSING
    items = [
        ("dataset", Path(source).name if source != MISSING else MISSING),
        ("source", source),
        ("created by", attrs.get("created_by")),
        ("config hash", attrs.get("config_hash") or None),
        ("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("report by", f"neurodyn {__version__}"),
    ]
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(format_value(v))}</dd>" for k, v in items)
    description = attrs.get("description")
    lead = f"<p>{escape(str(description))}</p>" if description else ""
    return f'<header>\n<h1>{escape(title)}</h1>\n{lead}<dl class="meta">{meta}</dl>\n</header>'


def _summary_table(info: dict[str, Any]) -> str:
    rows = []
    for key, value in info.items():
        if key == "window_s" and isinstance(value, (list, tuple)) and len(value) == 2:
            text = f"{format_value(value[0])} to {format_value(value[1])}"
            rows.append([f"<th>{escape(SUMMARY_LABELS[key])}</th>", f"<td>{escape(text)}</td>"])
            continue
        label = SUMMARY_LABELS.get(key, readable_key(key))
        rows.append([f"<th>{escape(label)}</th>", table_cell(value)])
    return html_table(["property", "value"], rows, css_class="summary")


def _dataset_section(ds: xr.Dataset, writer: FigureWriter) -> str:
    info = summary(ds)
    kind = fg.data_kind(ds)
    parts = ['<section id="dataset">\n<h2>Dataset</h2>', _summary_table(info), '<div class="figures">']
    if kind == "counts":
        parts.append(
            writer.embed("raster", lambda: fg.raster_figure(ds), "Spike counts of example trials (channels × time).")
        )
        parts.append(
            writer.embed("rates", lambda: fg.rate_histogram_figure(ds), "Histogram of per-channel mean firing rates.")
        )
    else:
        parts.append(
            writer.embed(
                "raster", lambda: fg.raster_figure(ds), "Example segment: stacked traces of the first channels."
            )
        )
        parts.append(
            writer.embed("variance", lambda: fg.channel_variance_figure(ds), "Per-channel variance of the signal.")
        )
    labels = fg.condition_labels(ds["condition"].values if "condition" in ds else None, ds.sizes["trial"])
    if fg.has_conditions(labels):
        parts.append(
            writer.embed(
                "psth", lambda: fg.psth_figure(ds), "Condition-averaged activity of the most active held-in channels."
            )
        )
    parts.append("</div>\n</section>")
    return "\n".join(parts)


def comparison_columns(models: Sequence[ModelResult], kind: str) -> list[MetricColumn]:
    """The evaluation split, then every registered metric for this data kind that any model has (in
    registry order), then unknown scalar metrics."""
    present = {k for m in models for k, v in (m.metrics or {}).items() if not isinstance(v, dict | list)}
    specs = metric_specs()
    columns = [MetricColumn("eval_split", "eval split", None, "The trials the metrics are computed on.")]
    columns += [MetricColumn.of(spec) for spec in specs.values() if spec.key in present and kind in spec.kinds]
    extra = sorted(k for k in present if k not in specs and k != "eval_split")
    return columns + [MetricColumn(k, readable_key(k)) for k in extra]


def _table_head(columns: Sequence[MetricColumn], before: Sequence[str], after: Sequence[str]) -> str:
    cells = [f"<th>{escape(h)}</th>" for h in before]
    cells += [
        f'<th title="{escape(c.definition)}">{escape(c.label)}</th>' if c.definition else f"<th>{escape(c.label)}</th>"
        for c in columns
    ]
    cells += [f"<th>{escape(h)}</th>" for h in after]
    return f"<thead><tr>{''.join(cells)}</tr></thead>"


def _glossary(columns: Sequence[MetricColumn]) -> str:
    """The definitions of the metrics in a table, with their direction."""
    items = []
    for c in columns:
        if not c.definition:
            continue
        direction = {"higher": " Higher is better.", "lower": " Lower is better."}.get(c.better or "", "")
        items.append(f"<dt>{escape(c.label)}</dt><dd>{escape(c.definition + direction)}</dd>")
    if not items:
        return ""
    return f'<details class="glossary"><summary>What the columns mean</summary>\n<dl>{"".join(items)}</dl>\n</details>'


def _comparison_section(models: Sequence[ModelResult], kind: str, anchors: Sequence[str]) -> str:
    if not models:
        return '<section id="comparison">\n<h2>Model comparison</h2>\n<p class="note">No models.</p>\n</section>'
    columns = comparison_columns(models, kind)
    best = {c.key: best_indices([(m.metrics or {}).get(c.key) for m in models], c.better) for c in columns}
    rows = []
    for i, (model, anchor) in enumerate(zip(models, anchors)):
        cells = [f'<td><a href="#{escape(anchor)}">{escape(model.name)}</a></td>', f"<td>{escape(model.family)}</td>"]
        cells += [table_cell((model.metrics or {}).get(c.key), best=i in best[c.key]) for c in columns]
        cells += [table_cell((model.fit or {}).get("seconds")), table_cell((model.fit or {}).get("device"))]
        rows.append(cells)
    head = _table_head(columns, ["model", "family"], ["fit time (s)", "device"])
    body = "\n".join(f"<tr>{''.join(r)}</tr>" for r in rows)
    table = f'<table class="comparison">\n{head}\n<tbody>\n{body}\n</tbody>\n</table>'
    ranked = ", ".join(
        f"{c.label} ({'higher' if c.better == 'higher' else 'lower'} is better)" for c in columns if c.better
    )
    note = (
        f'<p class="note"><span class="legend-best">Highlighted</span>: best value per column — {escape(ranked)}.</p>'
    )
    return f'<section id="comparison">\n<h2>Model comparison</h2>\n{table}\n{note}\n{_glossary(columns)}\n</section>'


def _fixed_point_table(points: Sequence[dict[str, Any]]) -> str:
    if not points:
        return '<p class="note">No fixed points found.</p>'
    rows = []
    for i, p in enumerate(points):
        taus = list(p.get("time_constants_s", []) or [])
        freqs = list(p.get("frequencies_hz", []) or [])
        tau = taus[0] if taus else None
        tau_cell = "<td>∞</td>" if taus and tau is None else table_cell(tau)
        rows.append(
            [
                table_cell(i),
                table_cell(p.get("kind")),
                table_cell(p.get("stable")),
                table_cell(p.get("spectral_radius")),
                tau_cell,
                table_cell(freqs[0] if freqs else None),
                table_cell(p.get("leading_oscillation_hz")),
                table_cell(p.get("method")),
            ]
        )
    header = [
        "#",
        "kind",
        "stable",
        "spectral radius",
        "leading τ (s)",
        "leading f (Hz)",
        "leading oscillation (Hz)",
        "method",
    ]
    return html_table(header, rows, css_class="fixed-points")


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


def _model_figures(ds: xr.Dataset, model: ModelResult, key: str, writer: FigureWriter) -> list[str]:
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
                ),
                "Welch power spectra of recorded and generated activity"
                + (" (smoothed rates)." if kind == "counts" else "."),
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
    if model.arrays is None:
        out.append('<p class="note">No evaluation arrays: data figures skipped.</p>')
    return out


def _expansion_figures(model: ModelResult, arrays: xr.Dataset, key: str, writer: FigureWriter) -> list[str]:
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


def _model_section(ds: xr.Dataset, model: ModelResult, key: str, writer: FigureWriter) -> str:
    fit = model.fit or {}
    facts = [
        ("family", model.family),
        ("evaluation split", (model.metrics or {}).get("eval_split")),
        ("evaluation trials", (model.metrics or {}).get("n_eval_trials")),
        ("fit time (s)", fit.get("seconds")),
        ("device", fit.get("device")),
    ]
    meta = "".join(f"<dt>{escape(k)}</dt><dd>{escape(format_value(v))}</dd>" for k, v in facts)
    figures = "\n".join(_model_figures(ds, model, key, writer))
    return "\n".join(
        [
            f'<section id="model-{escape(key)}">',
            f"<h2>Model: {escape(model.name)}</h2>",
            f'<dl class="meta">{meta}</dl>',
            f'<div class="figures">\n{figures}\n</div>',
            "<h3>Fixed points</h3>",
            _fixed_point_table(model.fixed_points or []),
            _json_details("Evaluation protocol", model.protocol or {}),
            _json_details("Fit details", fit) if fit else "",
            "</section>",
        ]
    )


SWEEP_METRICS: tuple[tuple[str, str], ...] = (
    ("d_stsp", "D_stsp (state-space KL)"),
    ("d_h", "D_H (spectral Hellinger)"),
    ("pse_low", "power-spectrum error, low band"),
    ("pse_high", "power-spectrum error, high band"),
    ("co_bps", "co-bps (bits/spike)"),
)


def _sweep_section(
    models: Sequence[ModelResult], writer: FigureWriter, declared: dict[str, dict[str, Any]] | None = None
) -> str:
    """Metrics against each swept option (see :mod:`neurodyn.report.sweeps`): the sweeps the
    workflow ``declared``, or those inferred from the models' options when none are given; empty
    without sweeps."""
    configs = {m.name: (m.family, m.config or {}) for m in models}
    found = sweeps.find_sweeps(configs) if declared is None else sweeps.declared_sweeps(declared, configs)
    if not found:
        return ""
    metrics = {m.name: m.metrics or {} for m in models}
    split = next((m.protocol.get("spectrum_split_hz") for m in models if m.protocol), None)
    parts = ['<section id="sweeps">\n<h2>Hyperparameter sweeps</h2>']
    for sweep in found:
        shown = [
            (k, label)
            for k, label in SWEEP_METRICS
            if any(
                numeric(metrics[n].get(k)) is not None
                for by_x in sweep.models.values()
                for names in by_x.values()
                for n in names
            )
        ]
        if not shown:
            continue
        panels = [
            (label, {s: sweep.points(metrics, k, s) for s in sweep.models}, sweep.points(metrics, k))
            for k, label in shown
        ]
        series = f"; thin lines: {', '.join(sweep.series_keys)}" if sweep.series_keys else ""
        band = f" Power-spectrum error bands: ≤ and > {format_number(split)} Hz." if split else ""
        parts.append(f"<h3>{escape(sweep.family)}: {escape(sweep.x_key)}</h3>")
        parts.append(
            writer.embed(
                f"sweep_{slug(sweep.family)}_{slug(sweep.x_key)}",
                lambda panels=panels, x=sweep.x_key: fg.sweep_figure(panels, x),
                f"Metrics against {sweep.x_key} (bold: mean ± SEM over all models at each value{series}).{band}",
            )
        )
        header = [sweep.x_key] + [label for _, label in shown]
        rows = []
        for row in sweeps.sweep_rows(sweep, metrics, [k for k, _ in shown]):
            cells = [table_cell(row[0])]
            for value in row[1:]:
                if value is None:
                    cells.append(table_cell(None))
                    continue
                mean, sem, n, missing = value
                text = f"{format_number(mean)} ± {format_number(sem)} (n={n}" + (
                    f", {missing} missing)" if missing else ")"
                )
                cells.append(f'<td class="num">{escape(text)}</td>')
            rows.append(cells)
        parts.append(html_table(header, rows))
        parts.append(
            '<p class="note">Missing: the metric could not be computed, e.g. the free-running model diverged.</p>'
        )
    parts.append("</section>")
    return "\n".join(parts)


def _distillation_section(models: Sequence[ModelResult]) -> str:
    """One row per model distilled into a low-rank tanh RNN; empty when none was."""
    done = [m for m in models if m.distillation]
    if not done:
        return ""
    header = [
        "model",
        "neurons",
        "relative MSE",
        "fixed points: model (stable)",
        "distilled (stable)",
        "matched",
        "same fixed points",
    ]
    rows = []
    for m in done:
        d, c = m.distillation, m.distillation.get("comparison", {})
        rows.append(
            [
                table_cell(m.name),
                table_cell(d.get("n_neurons")),
                table_cell(d.get("rel_mse")),
                table_cell(f"{c.get('n_source')} ({c.get('n_source_stable')})"),
                table_cell(f"{c.get('n_distilled')} ({c.get('n_distilled_stable')})"),
                table_cell(c.get("n_matched")),
                table_cell("yes" if c.get("same") else "no"),
            ]
        )
    tol = next((m.protocol.get("distill_tol") for m in done if m.protocol.get("distill_tol")), None)
    note = (
        "Each model's latent map, read as a flow on the states it visits, embedded by orthogonal "
        "matching pursuit into the smallest rank-L tanh RNN ż = −z + Nᵀtanh(Mz + I)"
        + (f" within a relative MSE of {format_number(tol)}" if tol else "")
        + "; fixed points are compared inside the visited region (widened by 10 %), matched within "
        "10 % of the states' spread, with their stability."
    )
    return "\n".join(
        [
            '<section id="distillation">\n<h2>Distilled low-rank RNNs</h2>',
            html_table(header, rows),
            f'<p class="note">{escape(note)}</p>',
            "</section>",
        ]
    )


def _eigenvalue_text(value: Any) -> str:
    values = fg.complex_values([value])
    if values.size == 0:
        return MISSING
    z = values[0]
    if abs(z.imag) < 1e-12:
        return format_number(z.real)
    sign = "+" if z.imag >= 0 else "-"
    return f"{format_number(z.real)} {sign} {format_number(abs(z.imag))}i"


def _ground_truth_section(truth: dict[str, Any], models: Sequence[ModelResult]) -> str:
    parts = ['<section id="ground-truth">\n<h2>Ground truth</h2>']
    if truth.get("description"):
        parts.append(f"<p>{escape(str(truth['description']))}</p>")
    points = [p for p in truth.get("fixed_points", []) or [] if isinstance(p, dict)]
    if points:
        rows = []
        for i, p in enumerate(points):
            try:
                eig = ", ".join(_eigenvalue_text(v) for v in p.get("eigenvalues", []) or []) or MISSING
            except (TypeError, ValueError):
                eig = MISSING
            freqs = sorted({round(float(f), 6) for f in p.get("frequencies_hz", []) or [] if numeric(f) is not None})
            rows.append(
                [
                    table_cell(i),
                    table_cell(p.get("kind")),
                    table_cell(p.get("stable")),
                    table_cell(p.get("z")),
                    f"<td>{escape(eig)}</td>",
                    table_cell(freqs or None),
                    table_cell(p.get("time_constants_s")),
                ]
            )
        parts.append("<h3>Teacher fixed points (continuous time)</h3>")
        parts.append(
            html_table(
                [
                    "#",
                    "kind",
                    "stable",
                    "z",
                    "eigenvalues (1/s)",
                    "frequencies (Hz)",
                    "time constants (s; negative = growing)",
                ],
                rows,
            )
        )
    else:
        parts.append('<p class="note">The ground truth lists no fixed points.</p>')
    cycle = truth.get("limit_cycle")
    cycle_hz = None
    if isinstance(cycle, dict) and cycle:
        cycle_hz = numeric(cycle.get("frequency_hz"))
        rows = [
            [f"<th>{escape(readable_key(str(k)))}</th>", table_cell(v)]
            for k, v in cycle.items()
            if not isinstance(v, (dict, list))
        ]
        parts.append("<h3>Teacher limit cycle</h3>")
        parts.append(html_table(["property", "value"], rows))
    if models:
        teacher_freqs = sorted(
            {round(float(f), 3) for p in points for f in p.get("frequencies_hz", []) or [] if numeric(f) is not None}
        )
        rows = []
        for model in models:
            rows.append(
                [
                    f"<td>{escape(model.name)}</td>",
                    table_cell((model.metrics or {}).get("leading_oscillation_hz")),
                    table_cell(cycle_hz),
                    table_cell(teacher_freqs or None),
                ]
            )
        parts.append("<h3>Frequencies: models vs teacher</h3>")
        parts.append(
            html_table(
                [
                    "model",
                    "leading oscillation (Hz)",
                    "teacher limit cycle (Hz)",
                    "teacher fixed-point frequencies (Hz)",
                ],
                rows,
            )
        )
        teacher_stable = sum(bool(p.get("stable")) for p in points)
        rows = []
        for model in models:
            found = (model.metrics or {}).get("n_stable_fixed_points")
            rows.append(
                [
                    f"<td>{escape(model.name)}</td>",
                    table_cell((model.metrics or {}).get("n_fixed_points")),
                    table_cell(len(points)),
                    table_cell(found),
                    table_cell(teacher_stable),
                    table_cell(None if found is None else found == teacher_stable),
                ]
            )
        parts.append("<h3>Fixed points: models vs teacher</h3>")
        parts.append(
            html_table(
                ["model", "fixed points", "teacher fixed points", "stable", "teacher stable", "stable count recovered"],
                rows,
            )
        )
    rest = {k: v for k, v in truth.items() if k in ("parameters", "config", "equations")}
    if rest:
        parts.append(_json_details("Teacher parameters", rest))
    parts.append("</section>")
    return "\n".join(parts)


def _provenance_section(ds: xr.Dataset, models: Sequence[ModelResult]) -> str:
    environment = {
        "neurodyn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "matplotlib": fg.matplotlib.__version__,
    }
    protocols = {m.name: {"family": m.family, "protocol": m.protocol or {}, "fit": m.fit or {}} for m in models}
    return "\n".join(
        [
            '<section id="provenance">\n<h2>Protocol and provenance</h2>',
            _json_details("Dataset attributes", dict(ds.attrs)),
            _json_details("Model protocols", protocols),
            _json_details("Report environment", environment),
            "</section>",
        ]
    )


def _model_keys(models: Sequence[ModelResult]) -> list[str]:
    """A unique file- and anchor-safe key per model."""
    keys: list[str] = []
    for model in models:
        key = base = slug(model.name)
        n = 2
        while key in keys:
            key, n = f"{base}_{n}", n + 1
        keys.append(key)
    return keys


def build_report(
    dataset: xr.Dataset,
    models: list[ModelResult],
    *,
    title: str,
    ground_truth: dict[str, Any] | None = None,
    figures_dir: Path | None = None,
    declared_sweeps: dict[str, dict[str, Any]] | None = None,
) -> str:
    """The full, self-contained HTML report of one dataset and its fitted models (``declared_sweeps``:
    the workflow's sweep membership, see :func:`neurodyn.report.sweeps.declared_sweeps`).

    Sections: header, dataset (summary table, example raster, rate histogram or channel
    variance, condition-averaged activity), model comparison, one section per model
    (recorded vs generated, latent trajectories, eigenvalues, spectra, fixed-point table,
    protocol), ground truth (when given), provenance.

    Figure files written to ``figures_dir`` (when given): ``raster.png``; ``rates.png`` (counts)
    or ``variance.png`` (continuous); ``psth.png`` (with conditions); per model with key
    ``<model>`` (its name made file-safe): ``generated_<model>.png``, ``latents_<model>.png``,
    ``eigenvalues_<model>.png`` (also without fixed points), ``spectra_<model>.png`` — each
    drawn when the model's arrays hold what it needs.
    """
    writer = FigureWriter(figures_dir)
    keys = _model_keys(models)
    kind = fg.data_kind(dataset)
    toc = ['<li><a href="#dataset">Dataset</a></li>', '<li><a href="#comparison">Model comparison</a></li>']
    toc += [f'<li><a href="#model-{escape(k)}">Model: {escape(m.name)}</a></li>' for m, k in zip(models, keys)]
    if ground_truth:
        toc.append('<li><a href="#ground-truth">Ground truth</a></li>')
    toc.append('<li><a href="#provenance">Protocol and provenance</a></li>')
    body = [
        _header(dataset, title),
        f"<nav><ul>{''.join(toc)}</ul></nav>",
        _dataset_section(dataset, writer),
        _comparison_section(models, kind, [f"model-{k}" for k in keys]),
        _sweep_section(models, writer, declared_sweeps),
        _distillation_section(models),
        *(_model_section(dataset, m, k, writer) for m, k in zip(models, keys)),
        _ground_truth_section(ground_truth, models) if ground_truth else "",
        _provenance_section(dataset, models),
    ]
    return html_document(title, "\n".join(part for part in body if part))


# ----------------------------------------------------------------------------- index


def build_index(entries: list[dict[str, Any]], *, title: str = "neurodyn reports") -> str:
    """A page linking each dataset's report with its headline numbers.

    entries: dicts {"dataset": name, "report": relative href, "kind": ..., "summary": {...},
    "models": {model name: metrics dict}}; one table row per (dataset, model), best values per
    dataset highlighted.
    """
    present = {k for e in entries for m in (e.get("models") or {}).values() for k in (m or {})}
    specs = metric_specs()
    index_columns = [MetricColumn.of(specs[k]) for k in INDEX_KEYS]
    columns = [c for c in index_columns if c.key in present] or index_columns
    header = ["dataset", "kind", "trials", "channels (held-out)", "model"] + [c.label for c in columns]
    rows = []
    for entry in entries:
        info = entry.get("summary") or {}
        models = entry.get("models") or {}
        name = str(entry.get("dataset", MISSING))
        href = entry.get("report")
        link = f'<a href="{escape(str(href), quote=True)}">{escape(name)}</a>' if href else escape(name)
        span = max(1, len(models))
        channels = info.get("n_channels")
        heldout = info.get("n_heldout_channels")
        channel_text = format_value(channels) + (f" ({format_value(heldout)})" if heldout is not None else "")
        lead = [
            f'<td rowspan="{span}">{link}</td>',
            f'<td rowspan="{span}">{escape(format_value(entry.get("kind", info.get("kind"))))}</td>',
            f'<td rowspan="{span}" class="num">{escape(format_value(info.get("n_trials")))}</td>',
            f'<td rowspan="{span}" class="num">{escape(channel_text)}</td>',
        ]
        if not models:
            rows.append(lead + [f"<td>{MISSING}</td>"] + [table_cell(None) for _ in columns])
            continue
        metrics = [m or {} for m in models.values()]
        best = {c.key: best_indices([m.get(c.key) for m in metrics], c.better) for c in columns}
        for i, (model_name, values) in enumerate(zip(models, metrics)):
            cells = (lead if i == 0 else []) + [f"<td>{escape(str(model_name))}</td>"]
            cells += [table_cell(values.get(c.key), best=i in best[c.key]) for c in columns]
            rows.append(cells)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(
        [
            f"<h1>{escape(title)}</h1>",
            f'<p class="note">{len(entries)} datasets; generated {generated} by neurodyn {escape(__version__)}. '
            '<span class="legend-best">Highlighted</span>: best model per dataset.</p>',
            html_table(header, rows, css_class="index") if entries else '<p class="note">No datasets.</p>',
        ]
    )
    return html_document(title, body)


__all__ = [
    "metric_specs",
    "FigureWriter",
    "ModelResult",
    "best_indices",
    "build_index",
    "build_report",
    "format_number",
    "format_value",
]
