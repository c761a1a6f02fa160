"""The cross-dataset index (:func:`build_index`): one row per dataset with, per headline metric, the
best model and its value; every model's numbers collapsed below; the datasets without results with
their error; links to every report and to the other pages. ``templates/index.html`` lays it out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from neurodyn.report.formatting import MISSING, best_indices, format_value
from neurodyn.report.page import render_page, table_cell
from neurodyn.report.results import MetricColumn, metric_specs
from neurodyn.version import __version__

# the headline columns of the cross-dataset index (each data kind has those that apply to it)
INDEX_KEYS = ("co_bps", "psth_r2_heldout", "r2_heldout", "behavior_r2", "d_stsp", "d_h", "pse_low")


def build_index(
    entries: list[dict[str, Any]], *, title: str = "neurodyn reports", pages: Sequence[tuple[str, str]] = ()
) -> str:
    """A page linking each dataset's report with its headline numbers.

    entries: dicts {"dataset": name, "report": relative href, "kind": ..., "summary": {...},
    "models": {model name: metrics dict}, "synthetic": bool}; one row per dataset giving, per
    headline metric, the best model and its value (every model's values in a collapsed table). A
    dataset without results has instead {"dataset": name, "error": the error line of its failed job
    (None when none is known: not run), "log": relative href of that job's log or None}: its row says
    so, and it is also listed above the table. pages: (relative href, label) of other pages (the
    theory page) to link.
    """
    present = {
        k for e in entries for m in (e.get("models") or {}).values() for k, v in (m or {}).items() if v is not None
    }
    specs = metric_specs()
    index_columns = [MetricColumn.of(specs[k]) for k in INDEX_KEYS]
    columns = [c for c in index_columns if c.key in present] or index_columns[:1]
    rows = [_failed_entry(entry) if _without_results(entry) else _entry(entry, columns) for entry in entries]
    failed = [row for row in rows if row.get("failed")]
    contents = [("failed", f"Without results ({len(failed)})", [])] if failed else []
    contents.append(("datasets", "Datasets", [(f"dataset-{row['name']}", row["name"]) for row in rows]))
    if len(failed) < len(rows):
        contents.append(("models", "Every model", []))
    return render_page(
        "index.html",
        title=title,
        entries=rows,
        failed=failed,
        columns=columns,
        contents=contents,
        pages=list(pages),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def _best_cell(column: MetricColumn, names: list[str], values: list[Any]) -> Markup:
    """The best model's value and name (the value alone with one model; a dash without values)."""
    best = sorted(best_indices(values, column.better))
    if not best:
        known = [i for i, v in enumerate(values) if v is not None]
        if len(known) != 1:
            return table_cell(None)
        best = known
    i = best[0]
    name = ", ".join(names[j] for j in best)
    return table_cell(values[i], aside=name)


def _entry(entry: dict[str, Any], columns: list[MetricColumn]) -> dict[str, Any]:
    """One dataset: its best-model cells per headline column and every model's row."""
    info = entry.get("summary") or {}
    models = entry.get("models") or {}
    heldout = info.get("n_heldout_channels")
    out = {
        "name": str(entry.get("dataset", MISSING)),
        "href": str(entry["report"]) if entry.get("report") else None,
        "failed": False,
        "synthetic": bool(entry.get("synthetic")),
        "kind": entry.get("kind", info.get("kind")),
        "trials": info.get("n_trials"),
        "channels": format_value(info.get("n_channels"))
        + (f" ({format_value(heldout)} held out)" if heldout is not None else ""),
        "n_models": len(models),
    }
    names = [str(n) for n in models]
    metrics = [m or {} for m in models.values()]
    out["best"] = [_best_cell(c, names, [m.get(c.key) for m in metrics]) for c in columns]
    best = {c.key: best_indices([m.get(c.key) for m in metrics], c.better) for c in columns}
    out["rows"] = [
        (name, [table_cell(values.get(c.key), best=i in best[c.key]) for c in columns])
        for i, (name, values) in enumerate(zip(names, metrics))
    ]
    return out


def _without_results(entry: dict[str, Any]) -> bool:
    return "error" in entry and not entry.get("models")


def _failed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A dataset without results: its failed job's error line (and log), or 'not run'."""
    error = entry.get("error")
    return {
        "name": str(entry.get("dataset", MISSING)),
        "href": None,
        "kind": entry.get("kind"),
        "failed": True,
        "synthetic": False,
        "error": str(error) if error else None,
        "log": str(entry["log"]) if entry.get("log") else None,
        "rows": [],
    }
