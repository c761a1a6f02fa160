"""``neurodyn inspect FILE``: what an NWB, EDF/BDF or NumPy array file holds, on one screen, and a
dataset entry for the workflow configuration to start from.

The reading is :func:`neurodyn.io.inspect.inspect_file`, imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

MAX_LISTED = 8  # values, columns or series named before "…"


def _span(span: list[float] | None) -> str:
    return f"{span[0]:.3f}–{span[1]:.3f} s" if span else "no times"


def _values(values: dict[str, int], limit: int = MAX_LISTED) -> str:
    items = [f"{k} {v}" for k, v in list(values.items())[:limit]]
    return ", ".join(items) + (", …" if len(values) > limit else "")


def _column(column: dict[str, Any]) -> str:
    """``name (kind…)``: kind, ragged or per-row shape, and the values when there are few."""
    kind = column.get("kind", "?")
    if kind in ("number", "integer"):
        kind = column.get("dtype", kind)
    parts = [kind + (" list" if column.get("ragged") else "")]
    if column.get("shape"):
        parts[0] += " ×" + "×".join(str(n) for n in column["shape"])
    if column.get("refers_to"):
        parts.append(f"→ {column['refers_to'].rsplit('/', 1)[-1]}")
    if column.get("n_missing"):
        parts.append(f"{column['n_missing']} NaN")
    if "values" in column and column.get("kind") in ("text", "bool", "integer"):
        parts.append(_values(column["values"], 4))
    elif column.get("range") and column.get("kind") in ("number", "integer"):
        lo, hi = column["range"]
        parts.append(f"{lo:.4g}…{hi:.4g}")
    return f"{column['name']} ({'; '.join(parts)})"


def _series_line(series: dict[str, Any]) -> str:
    shape = "×".join(str(n) for n in series["shape"])
    if "rate_hz" in series:
        timing = f"{series['rate_hz']:g} Hz"
    elif "n_timestamps" in series:
        timing = f"timestamps (~{series.get('mean_rate_hz', 0):.3g} Hz)"
    else:
        timing = "no timing"
    unit = f" {series['unit']}" if series.get("unit") else ""
    kind = series.get("neurodata_type") or "series"
    return f"    {series['path']}: {kind} {shape}{unit}, {timing}, {_span(series.get('time_span_s'))}"


def _nwb_lines(nwb: dict[str, Any]) -> list[str]:
    lines = [f"  session: {nwb['session_description'] or '(no description)'}"]
    units = nwb["units"]
    if units is None:
        lines.append("  units: none (no units table)")
    else:
        per = units.get("spikes_per_unit", {})
        lines.append(
            f"  units: {units['n_units']}, {units.get('total_spikes', 0)} spikes "
            f"(per unit min {per.get('min', 0)} / median {per.get('median', 0)} / max {per.get('max', 0)}), "
            f"{_span(units.get('time_span_s'))}"
        )
        lines.append("    columns: " + ", ".join(_column(c) for c in units["columns"]))
    electrodes = nwb["electrodes"]
    if electrodes is None:
        lines.append("  electrodes: none")
    else:
        lines.append(
            f"  electrodes: {electrodes['n_rows']} rows; columns: "
            + ", ".join(_column(c) for c in electrodes["columns"][:MAX_LISTED])
            + (", …" if len(electrodes["columns"]) > MAX_LISTED else "")
        )
    if not nwb["intervals"]:
        lines.append("  intervals: none (no trials, epochs or other TimeIntervals tables)")
    for table in nwb["intervals"]:
        lines.append(f"  intervals/{table['name']}: {table['n_rows']} rows, {_span(table.get('time_span_s'))}")
        events = [c for c in table["columns"] if c.get("align_event")]
        conditions = [c for c in table["columns"] if c.get("condition")]
        splits = [c for c in table["columns"] if c.get("split")]
        rest = [c for c in table["columns"] if c not in events + conditions + splits]
        if events:
            lines.append("    align events: " + ", ".join(_column(c) for c in events))
        if conditions:
            lines.append("    conditions: " + ", ".join(f"{c['name']} ({c['n_distinct']} values)" for c in conditions))
        if splits:
            lines.append("    split labels: " + ", ".join(f"{c['name']} ({_values(c['values'])})" for c in splits))
        if rest:
            lines.append("    other columns: " + ", ".join(_column(c) for c in rest))
    for title, key in (("behaviour", "behavior"), ("acquisition", "acquisition"), ("stimulus", "stimulus")):
        if nwb[key]:
            lines.append(f"  {title}:")
            lines.extend(_series_line(s) for s in nwb[key][:MAX_LISTED])
            if len(nwb[key]) > MAX_LISTED:
                lines.append(f"    … {len(nwb[key]) - MAX_LISTED} more")
    if nwb["other_processing"]:
        lines.append("  other processing modules: " + ", ".join(nwb["other_processing"]))
    return lines


def _edf_lines(edf: dict[str, Any]) -> list[str]:
    channels = edf["channels"]
    names = ", ".join(c["name"] for c in channels[: 2 * MAX_LISTED]) + (", …" if len(channels) > 16 else "")
    types = sorted({c["type"] for c in channels})
    units = sorted({c.get("unit", "") for c in channels} - {""})
    lines = [
        f"  {edf['n_channels']} channels ({', '.join(types)}; units {', '.join(units) or 'unknown'}): {names}",
        f"  duration: {edf['duration_s']:.3f} s, {edf['n_samples']} samples at {edf['sfreq_hz']:g} Hz",
    ]
    if edf["rates_differ"]:
        rates = ", ".join(f"{r:g}" for r in edf["channel_rates_hz"])
        lines.append(f"  channels differ in sampling rate: {rates} Hz")
    if edf["annotations"]:
        lines.append(
            "  annotations: "
            + ", ".join(f"{label} ×{info['count']}" for label, info in list(edf["annotations"].items())[:12])
        )
    else:
        lines.append("  annotations: none")
    return lines


def _array_lines(array: dict[str, Any]) -> list[str]:
    lines = []
    for a in array["arrays"]:
        name = f"{a['key']}: " if "key" in a else ""
        usable = "" if a["usable"] else " (not a numeric sample × channel array)"
        lines.append(f"  {name}shape {tuple(a['shape'])}, {a['dtype']}{usable}")
    return lines


def _wrapped(line: str, width: int) -> str:
    """A long line wrapped at ``width``, continued under its own text."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip()) + 4)
    return textwrap.fill(line, width=width, subsequent_indent=indent, break_on_hyphens=False)


def format_summary(info: dict[str, Any]) -> str:
    """The one-screen text of an :func:`~neurodyn.io.inspect.inspect_file` summary."""
    size = info["size_bytes"]
    size_text = f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"
    kind = info["kind"]
    head = {"nwb": lambda s: f"NWB {s['nwb_version']}", "edf": lambda s: s["format"], "array": lambda s: "NumPy"}
    lines = [f"{info['path']}: {head[kind](info[kind])} file, {size_text}"]
    lines += {"nwb": _nwb_lines, "edf": _edf_lines, "array": _array_lines}[kind](info[kind])
    lines += [f"  note: {note}" for note in info["notes"]]
    width = max(80, min(shutil.get_terminal_size().columns, 160))
    lines = [_wrapped(line, width) for line in lines]
    lines += ["", "Suggested configuration (add under `datasets:`; commented lines are alternatives):", ""]
    return "\n".join(lines) + "\n" + info["config_yaml"]


def _cmd_inspect(args: argparse.Namespace) -> int:
    from neurodyn.io.inspect import inspect_file

    info = inspect_file(args.file)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_summary(info), end="")
    return 0


def add_inspect_commands(sub) -> None:
    """Register ``inspect`` on the ``neurodyn`` parser."""
    inspect = sub.add_parser(
        "inspect",
        help="show what an NWB, EDF or NumPy-array file holds and a configuration to start from",
        description="Read the layout of a recording file (metadata and small reads only) and print its units, "
        "intervals tables and their columns (align events, conditions), behaviour and stimulus series, "
        "electrodes; EDF channels, rates and annotations; array shapes. Ends with a ready-to-paste "
        "`datasets:` entry for the workflow configuration with the alternatives as comments.",
    )
    inspect.add_argument("file", type=Path, help="NWB, EDF/BDF, .npy or .npz file")
    inspect.add_argument("--json", action="store_true", help="print the summary (and the entry) as JSON")
    inspect.set_defaults(func=_cmd_inspect)
