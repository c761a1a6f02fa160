"""Report stages: one HTML page per dataset with its figures and combined metrics, and the index."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import xarray as xr

from neurodyn.data.dataset import open_dataset, summary
from neurodyn.report import ModelResult, build_index, build_report
from neurodyn.stages.analyze import load_analysis
from neurodyn.storage import write_atomically, write_json

log = logging.getLogger("neurodyn")

# how the pages name the theory page and the index when they link them
THEORY_LABEL = "Reservoir mean-field theory"
INDEX_LABEL = "All datasets (index)"


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
    pages: list[tuple[str, str]] | None = None,
) -> Path:
    """Write the dataset's HTML report (and its figures and combined metrics, when asked) from the
    analysis folders ``analyses`` (model name → folder); ``sweeps``: the workflow's sweep
    declarations (:func:`neurodyn.stages.config.declared_sweeps`), inferred from the models when None;
    ``pages``: (href relative to the report, label) of other pages to link (the index, the theory page)."""
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
        pages=pages,
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
    pages: list[tuple[str, str]] | None = None,
) -> Path:
    """The report of ``models`` on ``dataset`` written to ``out_html`` (figures embedded, and also
    written to ``figures_dir`` when given), each output atomically; ``pages``: other pages to link."""
    html = page_with_figures(
        lambda figs: build_report(
            dataset,
            models,
            title=title,
            ground_truth=ground_truth,
            figures_dir=figs,
            declared_sweeps=sweeps,
            pages=pages or (),
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


def index_stage(
    metrics_files: dict[str, str | os.PathLike[str] | None],
    out_html: str | os.PathLike[str],
    failures: dict[str, dict[str, str | None]] | None = None,
    pages: dict[str, str | os.PathLike[str]] | None = None,
) -> Path:
    """Cross-dataset index page linking every dataset report, in the order of ``metrics_files``
    (dataset → its combined ``metrics.json``). A dataset whose metrics file is None or absent is
    listed without results, with ``failures[dataset]`` (``{"error": line, "log": path}``, see
    :func:`job_failure`) when given. ``pages``: label → path of other pages to link (the theory page)."""
    out_html = Path(out_html)
    failures = failures or {}
    entries = []
    for dataset, path in metrics_files.items():
        if path is None or not Path(path).is_file():
            failure = failures.get(dataset) or {}
            log_file = failure.get("log")
            entries.append(
                {
                    "dataset": dataset,
                    "error": failure.get("error"),
                    "log": os.path.relpath(log_file, out_html.parent) if log_file else None,
                }
            )
            continue
        combined = json.loads(Path(path).read_text())
        report = Path(path).with_name("report.html")
        entries.append(
            {
                "dataset": dataset,
                "report": os.path.relpath(report, out_html.parent),
                "kind": combined["summary"]["kind"],
                "summary": combined["summary"],
                "models": combined["models"],
                "synthetic": "ground_truth" in combined,
            }
        )
    links = [(os.path.relpath(path, out_html.parent), label) for label, path in (pages or {}).items()]
    return write_atomically(lambda tmp: Path(tmp).write_text(build_index(entries, pages=links)), out_html)


# a stage log record (neurodyn.stages.logs.LOG_FORMAT): date time LEVEL logger: message
_LOG_RECORD = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)$")
# a line of a traceback or a tool's own error report
_ERROR_TEXT = re.compile(r"(^[A-Za-z_.]*(Error|Exception)\b)|(\berror:)|(^Killed\b)", re.I)


def error_line(log_text: str) -> str | None:
    """The line that says why a job failed: its last ``ERROR`` record as the command line prints it
    (``neurodyn: error: ...``), else its last line that reads as an error (an exception's
    ``ValueError: ...``), else None."""
    last_text = None
    for line in reversed(log_text.splitlines()):
        record = _LOG_RECORD.match(line.strip())
        if record and record["level"] in ("ERROR", "CRITICAL"):
            return f"{record['logger']}: error: {record['message']}"
        if last_text is None and not record and _ERROR_TEXT.search(line.strip()):
            last_text = line.strip()
    return last_text


def _dataset_of(path: str, results: Path) -> str | None:
    """The dataset a results path belongs to (``<results>/<dataset>/...``), or None."""
    try:
        parts = Path(path).relative_to(results).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else None


def failed_jobs(
    snakemake_log: str | os.PathLike[str] | list[str | os.PathLike[str]] | None,
    results: str | os.PathLike[str] = "results",
) -> dict[str, list[tuple[str, str | None]]]:
    """The jobs Snakemake's own log (a path or a list of them) reports as failed, by dataset:
    ``dataset → [(rule, job log path or None)]`` in the order reported. A job's dataset is its
    ``dataset`` wildcard, or the folder under ``results`` of its log or output; an unreadable log
    gives nothing."""
    paths = snakemake_log if isinstance(snakemake_log, list | tuple) else [snakemake_log] if snakemake_log else []
    lines: list[str] = []
    for path in paths:
        try:
            lines += Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
    out: dict[str, list[tuple[str, str | None]]] = {}

    def close(job: dict[str, Any] | None) -> None:
        if job is None:
            return
        dataset = job.get("dataset")
        for path in (job.get("log"), *job.get("output", [])):
            dataset = dataset or (_dataset_of(path, Path(results)) if path else None)
        if dataset:
            out.setdefault(dataset, []).append((job["rule"], job.get("log")))

    job: dict[str, Any] | None = None
    for line in lines:
        start = re.match(r"^Error in rule (\S+):", line)
        if start or (job is not None and not line.startswith((" ", "\t"))):
            close(job)
            job = {"rule": start.group(1)} if start else None
            continue
        if job is None:
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip()
        if key == "log":
            job["log"] = value.split(" (check log", 1)[0].split(",")[0].strip() or None
        elif key == "output":
            job["output"] = [p.strip() for p in value.split(",") if p.strip()]
        elif key == "wildcards":
            fields = dict(part.strip().split("=", 1) for part in value.split(",") if "=" in part)
            job["dataset"] = fields.get("dataset")
    close(job)
    return out


def job_failure(
    log_dir: str | os.PathLike[str], reported: list[tuple[str, str | None]] | None = None
) -> dict[str, str | None] | None:
    """Why a dataset has no results: ``{"error": line, "log": path}`` from the log of its failed job
    (``reported`` by Snakemake's log, else the newest of ``log_dir``'s logs holding an error
    line), or a line naming the failed rule when its log holds none; None when nothing failed."""
    candidates = [Path(p) for _, p in reported or [] if p]
    logs = sorted(Path(log_dir).glob("*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in [*candidates, *[p for p in logs if p not in candidates]]:
        try:
            line = error_line(path.read_text(errors="replace"))
        except OSError:
            continue
        if line:
            return {"error": line, "log": str(path)}
    if reported:
        rule, path = reported[0]
        return {"error": f"rule {rule} failed (its log holds no error line)", "log": path}
    return None


def rebuild_index(
    results: str | os.PathLike[str],
    datasets: list[str],
    out_html: str | os.PathLike[str],
    *,
    snakemake_log: str | os.PathLike[str] | list[str | os.PathLike[str]] | None = None,
) -> Path:
    """The index from whatever the results folder holds: each dataset with its combined metrics,
    the others with the error line of their failed job (:func:`job_failure`). What the workflow
    writes when a job failed. The page is dated just before the oldest metrics file it lists, so
    that the next run in which every dataset has results replaces it through the ``index`` rule."""
    results = Path(results)
    reported = failed_jobs(snakemake_log, results)
    metrics = {d: results / d / "metrics.json" for d in datasets}
    failures = {
        d: failure
        for d, path in metrics.items()
        if not path.is_file() and (failure := job_failure(results / d / "logs", reported.get(d)))
    }
    theory = results / "theory" / "report.html"
    pages = {THEORY_LABEL: theory} if theory.is_file() else None
    out = index_stage({d: p if p.is_file() else None for d, p in metrics.items()}, out_html, failures, pages)
    existing = [p.stat().st_mtime for p in metrics.values() if p.is_file()]
    if existing:
        stamp = min(existing) - 1.0
        os.utime(out, (stamp, stamp))
    return out


# --- command line ------------------------------------------------------------------------------
