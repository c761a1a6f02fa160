"""A sessions sheet: one row per recording, each expanded into a dataset entry of the workflow configuration.

The sheet follows the sample-sheet convention of the Snakemake workflow catalog: a tab-separated
file with a header, named by the configuration's top-level ``sessions`` key (relative to the
working directory, like every path of the configuration). Columns:

* ``name`` (required): the dataset's name, unique, ``[A-Za-z0-9_-]+``;
* ``path`` (required): the recording, relative to the working directory;
* ``kind`` (optional): ``nwb``, ``edf`` or ``array``; empty: the template's, else detected from the file;
* ``template`` (optional): the ``session_templates`` entry the row starts from (default: ``default``
  when the configuration has one, else nothing);
* ``models`` (optional): comma-separated model names, replacing the template's;
* any dotted key of a dataset entry, e.g. ``binning.bin_size_s``, ``source.sfreq`` or
  ``analysis.eval_split``: a value overriding the template's, read as a YAML scalar or flow list
  (``0.01`` is a number, ``[-0.2, 0.8]`` a list, ``null`` null); an empty cell leaves the template's.

Blank lines and lines starting with ``#`` are skipped. A template is a partial dataset entry
(``source`` without ``path``, ``binning``, ``split``, ``heldout``, ``analysis``, ``models``).
Every problem of the sheet is one :class:`SessionSheetError` naming the sheet, its line and column;
the options of the expanded entries are checked with every other dataset's
(:func:`neurodyn.stages.config.check_workflow_config`), and :func:`locate_in_sheet` turns such an
error about a row's dataset back into the sheet's line and column.
"""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path
from typing import Any

import yaml

from neurodyn.errors import ConfigError, InputFileError, NeurodynError
from neurodyn.io.registry import READERS, detect_kind

NAME_PATTERN = r"[A-Za-z0-9_-]+"
# the columns every sheet may have; every other column is a dotted key of a dataset entry
BASE_COLUMNS = ("name", "path", "kind", "template", "models")
REQUIRED_COLUMNS = ("name", "path")
# sections of a dataset entry a dotted column may set (``models`` is its own column)
SECTIONS = ("source", "binning", "split", "heldout", "analysis")
TEMPLATE_KEYS = (*SECTIONS, "models")
# source keys given by their own columns
SOURCE_COLUMNS = {"path": "path", "kind": "kind"}
DEFAULT_TEMPLATE = "default"


class SessionSheetError(ConfigError):
    """A problem of the sessions sheet, named by the sheet, its line and (when one) its column."""

    def __init__(self, sheet: str | Path, line: int | None, column: str | None, problem: str):
        place = str(sheet) + (f", line {line}" if line is not None else "") + (f", column '{column}'" if column else "")
        super().__init__(place, problem)
        self.sheet, self.line, self.column = str(sheet), line, column
        self.args = (f"{place}: {problem}",)

    def __str__(self) -> str:
        return self.args[0]


def _cell_value(text: str, sheet: str, line: int, column: str) -> Any:
    """An override cell read as YAML: a scalar, or a flow list/mapping written on the line."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", None) or exc).splitlines()[0]
        raise SessionSheetError(sheet, line, column, f"cannot read {text!r} as a YAML value ({problem})") from None
    return value


def _check_header(header: list[str], sheet: str) -> None:
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise SessionSheetError(
                sheet, 1, column, f"is missing (the header has {', '.join(header) or 'no columns'})"
            )
    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise SessionSheetError(sheet, 1, column, "appears twice in the header")
        seen.add(column)
        if column in BASE_COLUMNS:
            continue
        section, _, key = column.partition(".")
        if not column:
            raise SessionSheetError(sheet, 1, None, "has an empty column name")
        if section not in SECTIONS or not key or "" in key.split("."):
            raise SessionSheetError(
                sheet,
                1,
                column,
                f"unknown column: expected {', '.join(BASE_COLUMNS)} or a dotted option key of "
                f"{', '.join(SECTIONS)} (e.g. binning.bin_size_s)",
            )
        if section == "source" and key in SOURCE_COLUMNS:
            raise SessionSheetError(sheet, 1, column, f"give the source's {key} in the '{SOURCE_COLUMNS[key]}' column")


def _parse_row(cells: dict[str, str], sheet: str, line: int) -> dict[str, Any]:
    """One data row: ``{"line", "name", "path", "kind", "template", "models", "overrides"}``
    (absent optional cells as None; ``overrides``: dotted key → value of the non-empty cells)."""
    row: dict[str, Any] = {"line": line}
    for column in ("name", "path"):
        if not cells.get(column):
            raise SessionSheetError(sheet, line, column, "is empty (every row needs a name and a path)")
    if not re.fullmatch(NAME_PATTERN, cells["name"]):
        raise SessionSheetError(sheet, line, "name", f"{cells['name']!r} may hold only letters, digits, _ and -")
    row["name"], row["path"] = cells["name"], cells["path"]
    kind = cells.get("kind") or None
    if kind is not None and kind not in READERS:
        raise SessionSheetError(sheet, line, "kind", f"must be one of {', '.join(READERS)} or empty, got {kind!r}")
    row["kind"] = kind
    row["template"] = cells.get("template") or None
    models = None
    if cells.get("models"):
        models = [m.strip() for m in cells["models"].split(",")]
        bad = [m for m in models if not re.fullmatch(NAME_PATTERN, m)]
        if bad:
            raise SessionSheetError(
                sheet, line, "models", f"expected comma-separated model names, got {cells['models']!r}"
            )
    row["models"] = models
    row["overrides"] = {
        column: _cell_value(text, sheet, line, column)
        for column, text in cells.items()
        if column not in BASE_COLUMNS and text != ""
    }
    return row


def read_sessions(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a sessions sheet, in order: ``{"line": line number in the file, "name", "path",
    "kind", "template", "models" (list or None), "overrides": {dotted key: value}}``.

    Raises :class:`SessionSheetError` for a missing or unreadable sheet, a header without ``name``
    or ``path``, an unknown or repeated column, a row with too many or too few cells, an empty,
    malformed or repeated name, an empty path, an unknown kind or a cell that is not YAML."""
    sheet = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SessionSheetError(sheet, None, None, "no such file (the `sessions` key names a TSV file)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionSheetError(sheet, None, None, f"cannot read the sheet ({exc.__class__.__name__})") from None
    lines = [
        (number, cells)
        for number, cells in enumerate(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE), 1)
        if any(c.strip() for c in cells) and not cells[0].lstrip().startswith("#")
    ]
    if not lines:
        raise SessionSheetError(
            sheet, None, None, "is empty (expected a header with name and path, then one row per session)"
        )
    header_line, header = lines[0]
    header = [c.strip() for c in header]
    _check_header(header, sheet)
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for number, cells in lines[1:]:
        if len(cells) != len(header):
            raise SessionSheetError(
                sheet, number, None, f"has {len(cells)} tab-separated cells, the header {len(header)}"
            )
        row = _parse_row({c: v.strip() for c, v in zip(header, cells)}, sheet, number)
        if row["name"] in first_line:
            raise SessionSheetError(
                sheet, number, "name", f"'{row['name']}' is also the name on line {first_line[row['name']]}"
            )
        first_line[row["name"]] = number
        rows.append(row)
    if not rows:
        raise SessionSheetError(sheet, header_line, None, "has a header but no sessions")
    return rows


def check_templates(templates: Any) -> dict[str, dict[str, Any]]:
    """``session_templates``: name → partial dataset entry; ConfigError names the key."""
    if templates is None:
        return {}
    if not isinstance(templates, dict):
        raise ConfigError("session_templates", f"expected a mapping of template names to entries, got {templates!r}")
    for name, entry in templates.items():
        where = f"session_templates.{name}"
        if not re.fullmatch(NAME_PATTERN, str(name)):
            raise ConfigError(where, "a template's name may hold only letters, digits, _ and -")
        if not isinstance(entry, dict):
            raise ConfigError(where, f"expected a mapping ({', '.join(TEMPLATE_KEYS)}), got {entry!r}")
        for key, value in entry.items():
            if key not in TEMPLATE_KEYS:
                raise ConfigError(f"{where}.{key}", f"unknown key (known: {', '.join(TEMPLATE_KEYS)})")
            if key == "models":
                if not isinstance(value, list) or not all(isinstance(m, str) for m in value):
                    raise ConfigError(f"{where}.models", f"expected a list of model names, got {value!r}")
            elif not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}", f"expected a mapping of options, got {value!r}")
        if "path" in (entry.get("source") or {}):
            raise ConfigError(f"{where}.source.path", "belongs to each session (the sheet's path column)")
    return templates


def _set_dotted(entry: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = entry
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def session_entry(row: dict[str, Any], templates: dict[str, dict[str, Any]], sheet: str) -> dict[str, Any]:
    """The dataset entry of one sheet row: its template (deep-copied) with the row's path, kind,
    models and dotted overrides. The kind, when neither the row nor the template gives one, is
    detected from the file's signature."""
    name = row["template"] or DEFAULT_TEMPLATE
    if row["template"] is not None and name not in templates:
        known = ", ".join(templates) or "none configured"
        raise SessionSheetError(sheet, row["line"], "template", f"no session template '{name}' (known: {known})")
    entry = copy.deepcopy(templates.get(name, {}))
    source = entry.setdefault("source", {})
    kind = row["kind"] or source.get("kind")
    if kind is None:
        try:
            kind = detect_kind(row["path"])
        except InputFileError as exc:
            raise SessionSheetError(
                sheet, row["line"], "path", f"cannot tell the kind ({exc.problem}); give it in a 'kind' column"
            ) from None
    source.update(kind=kind, path=row["path"])
    for key, value in row["overrides"].items():
        _set_dotted(entry, key, value)
    if row["models"] is not None:
        entry["models"] = row["models"]
    if not entry.get("models"):
        raise SessionSheetError(
            sheet,
            row["line"],
            "models",
            f"no models: fill the models column or give the template '{name}' a models list",
        )
    return entry


def expand_sessions(config: dict[str, Any]) -> None:
    """Add one dataset entry per row of the sheet named by ``config["sessions"]`` to
    ``config["datasets"]`` (in place; nothing without a ``sessions`` key). A row's name may not be
    a configured dataset's."""
    sheet = config.get("sessions")
    templates = check_templates(config.get("session_templates"))
    if sheet is None:
        return
    if not isinstance(sheet, str) or not sheet:
        raise ConfigError("sessions", f"expected the path of a TSV file, got {sheet!r}")
    datasets = config.get("datasets")
    if datasets is None:
        datasets = config["datasets"] = {}
    if not isinstance(datasets, dict):
        raise ConfigError("datasets", f"expected a mapping of dataset entries, got {datasets!r}")
    for row in read_sessions(sheet):
        if row["name"] in datasets:
            raise SessionSheetError(sheet, row["line"], "name", f"'{row['name']}' is also a dataset in `datasets`")
        datasets[row["name"]] = session_entry(row, templates, sheet)


def locate_in_sheet(error: NeurodynError, config: dict[str, Any]) -> NeurodynError:
    """A ConfigError about a dataset that came from the sessions sheet, said of the sheet's line
    and column (or of the template the value came from); any other error unchanged."""
    sheet = config.get("sessions")
    field = getattr(error, "field", None)
    if not isinstance(error, ConfigError) or isinstance(error, SessionSheetError) or not sheet or not field:
        return error
    parts = field.split(".")
    if len(parts) < 2 or parts[0] != "datasets":
        return error
    try:
        rows = {row["name"]: row for row in read_sessions(sheet)}
    except NeurodynError:
        return error
    row = rows.get(parts[1])
    if row is None:
        return error
    key = re.sub(r"\[\d+\]", "", ".".join(parts[2:]))  # an item of a list option: its column
    column = next((c for c in [key, *_parents(key)] if c in row["overrides"]), None)
    if column is None and key in ("source.path", "source.kind"):
        column = key.split(".")[1]
    if column is None and key == "models" and row["models"] is not None:
        column = "models"
    if column is not None:
        return SessionSheetError(
            sheet, row["line"], column, f"{error.problem}" + (f" ('{key}')" if column != key else "")
        )
    template = row["template"] or DEFAULT_TEMPLATE
    origin = f"session_templates.{template}.{key}" if _has_key(config.get("session_templates"), template, key) else key
    return SessionSheetError(sheet, row["line"], None, f"session '{row['name']}': config '{origin}': {error.problem}")


def _parents(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(len(parts) - 1, 1, -1)]


def _has_key(templates: Any, template: str, key: str) -> bool:
    node = (templates or {}).get(template) if isinstance(templates, dict) else None
    for part in key.split(".") if key else []:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return node is not None and bool(key)


__all__ = [
    "SessionSheetError",
    "check_templates",
    "expand_sessions",
    "locate_in_sheet",
    "read_sessions",
    "session_entry",
]
