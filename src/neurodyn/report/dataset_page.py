"""The report of one dataset (:func:`build_report`): header and contents, the dataset, the model
comparison, sweeps, distilled RNNs, a section per model (:mod:`.model_section`), the ground truth
(:mod:`.ground_truth`) and the provenance; ``templates/dataset/report.html`` lays them out."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import xarray as xr
from markupsafe import Markup

from neurodyn.data.dataset import summary
from neurodyn.report import figures as fg
from neurodyn.report import sweeps
from neurodyn.report.formatting import MISSING, best_indices, format_number, format_value, numeric, readable_key, slug
from neurodyn.report.ground_truth import ground_truth_section
from neurodyn.report.model_section import model_section
from neurodyn.report.page import FigureWriter, html_table, render, render_page, table_cell, text_cell
from neurodyn.report.results import MetricColumn, ModelResult, comparison_columns, headline_columns
from neurodyn.report.summary import best_per_column, ground_truth_sentence, model_sentence
from neurodyn.version import __version__

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

SWEEP_METRICS: tuple[tuple[str, str], ...] = (
    ("d_stsp", "D_stsp (state-space KL)"),
    ("d_h", "D_H (spectral Hellinger)"),
    ("pse_low", "power-spectrum error, low band"),
    ("pse_high", "power-spectrum error, high band"),
    ("co_bps", "co-bps (bits/spike)"),
)


def build_report(
    dataset: xr.Dataset,
    models: list[ModelResult],
    *,
    title: str,
    ground_truth: dict[str, Any] | None = None,
    figures_dir: Path | None = None,
    declared_sweeps: dict[str, dict[str, Any]] | None = None,
    pages: Sequence[tuple[str, str]] = (),
) -> str:
    """The full, self-contained HTML report of one dataset and its fitted models (``declared_sweeps``:
    the workflow's sweep membership, see :func:`neurodyn.report.sweeps.declared_sweeps`; ``pages``:
    (relative href, label) of the other pages to link from the sidebar, e.g. the index).

    Sections, in reading order: summary (a sentence per model, the best model per headline metric,
    the ground truth), model comparison (headline table, all metrics collapsed), sweeps and distilled
    RNNs when there are any, one section per model (figures, fixed points, details), ground truth,
    the data, a glossary of the metrics, provenance (collapsed).

    Figure files written to ``figures_dir`` (when given): ``raster.png``; ``rates.png`` (counts)
    or ``variance.png`` (continuous); ``psth.png`` (with conditions); per model with key
    ``<model>`` (its name made file-safe) those of :func:`neurodyn.report.model_section.model_figures`,
    each drawn when the model's arrays hold what it needs.
    """
    writer = FigureWriter(figures_dir)
    keys = _model_keys(models)
    anchors = [f"model-{k}" for k in keys]
    kind = fg.data_kind(dataset)
    headline = headline_columns(models, kind)
    columns = comparison_columns(models, kind) if models else []
    best = best_per_column(models, headline)
    sentences = [model_sentence(m, kind, best) for m in models]
    contents: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("summary", "Summary", []),
        ("comparison", "Model comparison", []),
    ]
    sweep_section = _sweep_section(models, writer, declared_sweeps)
    if sweep_section:
        contents.append(("sweeps", "Hyperparameter sweeps", []))
    distillation = _distillation_section(models)
    if distillation:
        contents.append(("distillation", "Distilled low-rank RNNs", []))
    contents += [
        (a, f"Model: {m.name}", [(f"fixed-points-{k}", "fixed points")]) for m, k, a in zip(models, keys, anchors)
    ]
    if ground_truth:
        contents.append(("ground-truth", "Ground truth", []))
    contents += [("dataset", "The data", []), ("glossary", "Glossary", []), ("provenance", "Provenance", [])]
    attrs = dataset.attrs
    return render_page(
        "dataset/report.html",
        title=title,
        synthetic=bool(ground_truth),
        lede=_lede(dataset, attrs),
        contents=contents,
        pages=list(pages),
        summary=render(
            "dataset/summary.html",
            findings=[(m.name, a, m.family, s) for m, a, s in zip(models, anchors, sentences)],
            best=best,
            truth=ground_truth_sentence(ground_truth, models) if ground_truth else None,
        ),
        comparison=_comparison_section(models, headline, columns, anchors),
        sweeps=sweep_section,
        distillation=distillation,
        models=[model_section(dataset, m, k, writer, s) for m, k, s in zip(models, keys, sentences)],
        ground_truth=ground_truth_section(ground_truth, models) if ground_truth else None,
        dataset=_dataset_section(dataset, writer),
        glossary=render("dataset/glossary.html", columns=[c for c in columns if c.key != "eval_split"]),
        provenance=_provenance_section(dataset, models),
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


def _lede(ds: xr.Dataset, attrs: dict[str, Any]) -> str:
    """One line on what the data are: description, kind, trials, channels, bins."""
    info = summary(ds)
    kind = "spike counts" if info.get("kind") == "counts" else "continuous signal"
    heldout = info.get("n_heldout_channels")
    channels = f"{info.get('n_channels')} {'units' if info.get('kind') == 'counts' else 'channels'}" + (
        f" ({heldout} held out)" if heldout else ""
    )
    bin_ms = numeric(attrs.get("bin_size_s"))
    bins = f"{info.get('n_time_bins')} bins" + (f" of {bin_ms * 1e3:.4g} ms" if bin_ms is not None else "")
    parts = [kind, f"{info.get('n_trials')} trials", channels, bins]
    description = str(attrs.get("description") or "").strip()
    return (f"{description} — " if description else "") + " · ".join(parts) + "."


def _header_facts(attrs: dict[str, Any]) -> list[tuple[str, Any]]:
    source = str(attrs.get("source", "")) or MISSING
    return [
        ("dataset", Path(source).name if source != MISSING else MISSING),
        ("source", source),
        ("source SHA-256", attrs.get("source_sha256") or None),
        ("created by", attrs.get("created_by")),
        ("config hash", attrs.get("config_hash") or None),
        ("generated", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("report by", f"neurodyn {__version__}"),
    ]


# ----------------------------------------------------------------------------- the dataset


def _summary_table(info: dict[str, Any]) -> Markup:
    rows = []
    for key, value in info.items():
        if key == "window_s" and isinstance(value, (list, tuple)) and len(value) == 2:
            text = f"{format_value(value[0])} to {format_value(value[1])}"
            rows.append([text_cell(SUMMARY_LABELS[key], tag="th"), text_cell(text)])
            continue
        label = SUMMARY_LABELS.get(key, readable_key(key))
        rows.append([text_cell(label, tag="th"), table_cell(value)])
    return html_table(["property", "value"], rows, css_class="summary")


def _dataset_section(ds: xr.Dataset, writer: FigureWriter) -> Markup:
    figures = []
    if fg.data_kind(ds) == "counts":
        figures.append(
            writer.embed("raster", lambda: fg.raster_figure(ds), "Spike counts of example trials (channels × time).")
        )
        figures.append(
            writer.embed("rates", lambda: fg.rate_histogram_figure(ds), "Histogram of per-channel mean firing rates.")
        )
    else:
        figures.append(
            writer.embed(
                "raster", lambda: fg.raster_figure(ds), "Example segment: stacked traces of the first channels."
            )
        )
        figures.append(
            writer.embed("variance", lambda: fg.channel_variance_figure(ds), "Per-channel variance of the signal.")
        )
    labels = fg.condition_labels(ds["condition"].values if "condition" in ds else None, ds.sizes["trial"])
    if fg.has_conditions(labels):
        figures.append(
            writer.embed(
                "psth", lambda: fg.psth_figure(ds), "Condition-averaged activity of the most active held-in channels."
            )
        )
    return render("dataset/dataset.html", summary=_summary_table(summary(ds)), figures=figures)


# ----------------------------------------------------------------------------- all models


def _comparison_section(
    models: Sequence[ModelResult],
    headline: Sequence[MetricColumn],
    columns: Sequence[MetricColumn],
    anchors: Sequence[str],
) -> Markup:
    """The headline table (one row per model, best value per ranked column highlighted) and every
    metric in a collapsed table."""

    def cells(cols: Sequence[MetricColumn]) -> list[list[Markup]]:
        best = {c.key: best_indices([(m.metrics or {}).get(c.key) for m in models], c.better) for c in cols}
        return [[_metric_cell(m, c, i in best[c.key]) for c in cols] for i, m in enumerate(models)]

    rows = list(zip(models, anchors, cells(headline), cells(columns)))
    split = next((m.metrics.get("eval_split") for m in models if (m.metrics or {}).get("eval_split")), None)
    return render("dataset/comparison.html", headline=headline, columns=columns, rows=rows, split=split)


def _metric_cell(model: ModelResult, column: MetricColumn, best: bool) -> Markup:
    """One metric's cell; the fixed-point count says how many are stable."""
    metrics = model.metrics or {}
    value = metrics.get(column.key)
    if column.key == "n_fixed_points" and value is not None and metrics.get("n_stable_fixed_points") is not None:
        return text_cell(f"{value} ({metrics['n_stable_fixed_points']} stable)", css_class="num")
    return table_cell(value, best=best)


def _sweep_section(
    models: Sequence[ModelResult], writer: FigureWriter, declared: dict[str, dict[str, Any]] | None = None
) -> Markup:
    """Metrics against each swept option (see :mod:`neurodyn.report.sweeps`): the sweeps the
    workflow ``declared``, or those inferred from the models' options when none are given; empty
    without sweeps."""
    configs = {m.name: (m.family, m.config or {}) for m in models}
    found = sweeps.find_sweeps(configs) if declared is None else sweeps.declared_sweeps(declared, configs)
    if not found:
        return Markup()
    metrics = {m.name: m.metrics or {} for m in models}
    split = next((m.protocol.get("spectrum_split_hz") for m in models if m.protocol), None)
    shown_sweeps = []
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
        figure = writer.embed(
            f"sweep_{slug(sweep.family)}_{slug(sweep.x_key)}",
            lambda panels=panels, x=sweep.x_key: fg.sweep_figure(panels, x),
            f"Metrics against {sweep.x_key} (bold: mean ± SEM over all models at each value{series}).{band}",
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
                cells.append(text_cell(text, css_class="num"))
            rows.append(cells)
        shown_sweeps.append(
            {"family": sweep.family, "x_key": sweep.x_key, "figure": figure, "table": html_table(header, rows)}
        )
    return render("dataset/sweeps.html", sweeps=shown_sweeps)


def _distillation_section(models: Sequence[ModelResult]) -> Markup:
    """One row per model distilled into a low-rank tanh RNN; empty when none was."""
    done = [m for m in models if m.distillation]
    if not done:
        return Markup()
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
    return render("dataset/distillation.html", table=html_table(header, rows), note=note)


def _provenance_section(ds: xr.Dataset, models: Sequence[ModelResult]) -> Markup:
    software = {
        "neurodyn": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "matplotlib": matplotlib.__version__,
    }
    protocols = {m.name: {"family": m.family, "protocol": m.protocol or {}, "fit": m.fit or {}} for m in models}
    return render(
        "dataset/provenance.html",
        facts=_header_facts(ds.attrs),
        attributes=dict(ds.attrs),
        protocols=protocols,
        software=software,
    )
