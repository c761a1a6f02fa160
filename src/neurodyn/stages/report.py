"""Report stages: one HTML page per dataset with its figures and combined metrics, and the index."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import xarray as xr

from neurodyn.data.dataset import open_dataset, summary
from neurodyn.report import ModelResult, build_index, build_report
from neurodyn.stages.analyze import load_analysis
from neurodyn.storage import write_atomically, write_json

log = logging.getLogger("neurodyn")


def page_with_figures(build, figures_dir: str | os.PathLike[str] | None) -> str:
    """``build(figures_dir)`` → HTML; with a figures folder, the figures are written to a temporary
    folder renamed into place, like every other output."""
    if figures_dir is None:
        return build(None)
    pages: list[str] = []
    write_atomically(lambda tmp: pages.append(build(tmp)), figures_dir)
    return pages[0]


def report_stage(
    dataset_path: str | os.PathLike[str],
    analyses: dict[str, str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    *,
    title: str,
    figures_dir: str | os.PathLike[str] | None = None,
    metrics_out: str | os.PathLike[str] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
    sweeps: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the dataset's HTML report (and its figures and combined metrics, when asked) from the
    analysis folders ``analyses`` (model name → folder); ``sweeps``: the workflow's sweep
    declarations (:func:`neurodyn.stages.config.declared_sweeps`), inferred from the models when None."""
    dataset = open_dataset(dataset_path)
    models = [load_analysis(path, name) for name, path in analyses.items()]
    truth = json.loads(Path(ground_truth).read_text()) if ground_truth else None
    return write_report(
        dataset,
        models,
        out_html,
        title=title,
        figures_dir=figures_dir,
        metrics_out=metrics_out,
        ground_truth=truth,
        sweeps=sweeps,
    )


def write_report(
    dataset: xr.Dataset,
    models: list[ModelResult],
    out_html: str | os.PathLike[str],
    *,
    title: str,
    figures_dir: str | os.PathLike[str] | None = None,
    metrics_out: str | os.PathLike[str] | None = None,
    ground_truth: dict[str, Any] | None = None,
    sweeps: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """The report of ``models`` on ``dataset`` written to ``out_html`` (figures embedded, and also
    written to ``figures_dir`` when given), each output atomically."""
    html = page_with_figures(
        lambda figs: build_report(
            dataset, models, title=title, ground_truth=ground_truth, figures_dir=figs, declared_sweeps=sweeps
        ),
        figures_dir,
    )
    if metrics_out is not None:
        combined = {
            "dataset": title,
            "summary": summary(dataset),
            "models": {m.name: {"family": m.family, **m.metrics} for m in models},
        }
        if ground_truth is not None:
            combined["ground_truth"] = ground_truth_comparison(ground_truth, combined["models"])
        write_json(combined, metrics_out)
    return write_atomically(lambda tmp: Path(tmp).write_text(html), out_html)


def ground_truth_comparison(truth: dict[str, Any], models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The teacher's fixed-point counts and rhythm, and whether each model recovers the stable count."""
    points = [p for p in truth.get("fixed_points", []) or [] if isinstance(p, dict)]
    stable = sum(bool(p.get("stable")) for p in points)
    cycle = truth.get("limit_cycle") or {}
    return {
        "n_fixed_points": len(points),
        "n_stable_fixed_points": stable,
        "limit_cycle_hz": cycle.get("frequency_hz") if isinstance(cycle, dict) else None,
        "stable_count_recovered": {
            name: m.get("n_stable_fixed_points") == stable
            for name, m in models.items()
            if m.get("n_stable_fixed_points") is not None
        },
    }


def index_stage(metrics_files: dict[str, str | os.PathLike[str]], out_html: str | os.PathLike[str]) -> Path:
    """Cross-dataset index page linking every dataset report."""
    out_html = Path(out_html)
    entries = []
    for dataset, path in metrics_files.items():
        combined = json.loads(Path(path).read_text())
        report = Path(path).with_name("report.html")
        entries.append(
            {
                "dataset": dataset,
                "report": os.path.relpath(report, out_html.parent),
                "kind": combined["summary"]["kind"],
                "summary": combined["summary"],
                "models": combined["models"],
            }
        )
    return write_atomically(lambda tmp: Path(tmp).write_text(build_index(entries)), out_html)


# --- command line ------------------------------------------------------------------------------
