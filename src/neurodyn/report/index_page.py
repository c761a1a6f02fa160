"""The cross-dataset index (:func:`build_index`): each dataset's report linked, with its headline
numbers per model; ``templates/index.html`` lays it out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from neurodyn.report.formatting import MISSING, best_indices, format_value
from neurodyn.report.page import render_page, table_cell
from neurodyn.report.results import MetricColumn, metric_specs
from neurodyn.version import __version__

# the headline columns of the cross-dataset index
INDEX_KEYS = ("co_bps", "psth_r2_heldout", "r2_heldout", "d_stsp", "d_h", "leading_oscillation_hz")


def build_index(entries: list[dict[str, Any]], *, title: str = "neurodyn reports") -> str:
    """A page linking each dataset's report with its headline numbers.

    entries: dicts {"dataset": name, "report": relative href, "kind": ..., "summary": {...},
    "models": {model name: metrics dict}}; one table row per (dataset, model), best values per
    dataset highlighted. A dataset without results has instead {"dataset": name, "error": the
    error line of its failed job (None when none is known: not run), "log": relative href of that
    job's log or None}: one row saying so, and it is also listed above the table.
    """
    present = {k for e in entries for m in (e.get("models") or {}).values() for k in (m or {})}
    specs = metric_specs()
    index_columns = [MetricColumn.of(specs[k]) for k in INDEX_KEYS]
    columns = [c for c in index_columns if c.key in present] or index_columns
    rows = [_failed_entry(entry) if _without_results(entry) else _entry(entry, columns) for entry in entries]
    return render_page(
        "index.html",
        title=title,
        entries=rows,
        failed=[row for row in rows if row.get("failed")],
        columns=columns,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def _entry(entry: dict[str, Any], columns: list[MetricColumn]) -> dict[str, Any]:
    """One dataset's rows: (model name, metric cells) per model, or one row of dashes without models."""
    info = entry.get("summary") or {}
    models = entry.get("models") or {}
    heldout = info.get("n_heldout_channels")
    out = {
        "name": str(entry.get("dataset", MISSING)),
        "href": str(entry["report"]) if entry.get("report") else None,
        "failed": False,
        "kind": entry.get("kind", info.get("kind")),
        "trials": info.get("n_trials"),
        "channels": format_value(info.get("n_channels"))
        + (f" ({format_value(heldout)})" if heldout is not None else ""),
    }
    if not models:
        return out | {"rows": [(MISSING, [table_cell(None) for _ in columns])]}
    metrics = [m or {} for m in models.values()]
    best = {c.key: best_indices([m.get(c.key) for m in metrics], c.better) for c in columns}
    rows = [
        (str(name), [table_cell(values.get(c.key), best=i in best[c.key]) for c in columns])
        for i, (name, values) in enumerate(zip(models, metrics))
    ]
    return out | {"rows": rows}


def _without_results(entry: dict[str, Any]) -> bool:
    return "error" in entry and not entry.get("models")


def _failed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A dataset without results: its failed job's error line (and log), or 'not run'."""
    error = entry.get("error")
    return {
        "name": str(entry.get("dataset", MISSING)),
        "href": None,
        "kind": entry.get("kind"),
        "trials": None,
        "channels": MISSING,
        "failed": True,
        "error": str(error) if error else None,
        "log": str(entry["log"]) if entry.get("log") else None,
        "rows": [(MISSING, [])],
    }
