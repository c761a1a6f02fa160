"""Everything the workflow checks before its first job, each problem one line naming its key.

:func:`prepare_workflow_config` is what ``workflow/rules/common.smk`` calls on Snakemake's
configuration: it checks the top-level keys, expands the sessions sheet
(:mod:`neurodyn.stages.sessions`) and the model sweeps, runs the package's checks
(:func:`neurodyn.stages.config.check_workflow_config`, which name the first wrong key), the checks
that need a recording's kind and can run when the kind is known from the configuration (a spike
recording's bin size), and only then the JSON schema, whose first failure becomes one line with
its key path (:func:`schema_problem`). It fills in the top-level defaults the rules read.
"""

from __future__ import annotations

import copy
import reprlib
from typing import Any

from neurodyn.data.binned import BinningOptions, check_spike_bin_size
from neurodyn.errors import ConfigError, NeurodynError
from neurodyn.stages.config import check_workflow_config, declared_sweeps, expand_sweeps
from neurodyn.stages.sessions import expand_sessions, locate_in_sheet

# bin sizes spike counts are binned at (the bin stage refuses others once the recording is read)


def _short(value: Any) -> str:
    """A value in an error message, abbreviated (a dataset entry is not printed whole)."""
    shortener = reprlib.Repr()
    shortener.maxstring, shortener.maxother, shortener.maxlist, shortener.maxdict, shortener.maxlevel = 40, 40, 4, 3, 2
    return shortener.repr(value)


def is_spike_source(source: dict[str, Any]) -> bool:
    """Whether a ``source`` entry is known, before reading it, to hold spike times: an NWB file's
    units table, or a synthetic generator's NWB file."""
    kind = source.get("kind")
    return kind == "nwb" or (kind == "synthetic" and source.get("file", "nwb") == "nwb")


def check_spike_binning(config: dict[str, Any]) -> None:
    """A spike dataset's bin size within the bin stage's range (:func:`check_spike_bin_size`),
    checked here for every dataset whose kind the configuration gives."""
    for name, dataset in config["datasets"].items():
        if not is_spike_source(dataset["source"]):
            continue
        where = f"datasets.{name}.binning"
        size = BinningOptions.parse(dataset.get("binning"), where).bin_size_s
        check_spike_bin_size(size, f"{where}.bin_size_s", f"spike data ({dataset['source']['kind']} source)")


def check_top_level_keys(config: dict[str, Any], schema: dict[str, Any]) -> None:
    known = sorted(schema.get("properties", {}))
    for key in config:
        if key not in known:
            raise ConfigError(str(key), f"unknown key (known: {', '.join(known)})")


# JSON-schema types as the package's own messages name them
TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


def check_dataset_models_lists(config: dict[str, Any]) -> None:
    """Each dataset's ``models`` a list (the sweep expansion reads it as one)."""
    datasets = config.get("datasets")
    for name, dataset in datasets.items() if isinstance(datasets, dict) else []:
        models = dataset.get("models") if isinstance(dataset, dict) else None
        if models is not None and not isinstance(models, list):
            raise ConfigError(f"datasets.{name}.models", f"expected a list of model names, got {_short(models)}")


def _key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def schema_problem(config: dict[str, Any], schema: dict[str, Any]) -> ConfigError | None:
    """The schema's most relevant failure on ``config`` (jsonschema's best match) as one
    :class:`ConfigError` naming the key path, or None when the configuration is valid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    path = _key_path(error.absolute_path)
    instance, rule, expected = error.instance, error.validator, error.validator_value
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = sorted(error.schema.get("properties", {}))
        unexpected = sorted(str(k) for k in instance if k not in known)
        if unexpected:
            return ConfigError(_join(path, unexpected[0]), f"unknown key (known: {', '.join(known)})")
    if rule == "required" and isinstance(instance, dict):
        missing = [k for k in expected if k not in instance]
        if missing:
            return ConfigError(_join(path, missing[0]), "is required")
    where = path or "(top level)"
    if rule == "type":
        types = " or ".join(TYPE_NAMES.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
        return ConfigError(where, f"expected {types}, got {_short(instance)}")
    if rule == "enum":
        return ConfigError(where, f"must be one of {', '.join(map(str, expected))}, got {_short(instance)}")
    if rule == "const":
        return ConfigError(where, f"must be {expected!r}, got {_short(instance)}")
    if rule == "pattern":
        return ConfigError(where, f"{_short(instance)} may hold only letters, digits, _ and -")
    message = error.message.splitlines()[0] if error.message else "is invalid"
    return ConfigError(where, message if len(message) <= 200 else message[:197] + "...")


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> None:
    """The top-level keys the configuration leaves out, with the schema's defaults (as Snakemake's
    ``validate`` would write them)."""
    for key, prop in schema.get("properties", {}).items():
        if "default" in prop and key not in config:
            config[key] = copy.deepcopy(prop["default"])


def prepare_workflow_config(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Check and expand Snakemake's configuration in place (sessions sheet, model sweeps, top-level
    defaults); return the declared sweeps (:func:`neurodyn.stages.config.declared_sweeps`). Every
    problem is one :class:`NeurodynError`: a ConfigError naming the key (a session's option named
    by its sheet, line and column)."""
    try:
        check_top_level_keys(config, schema)
        expand_sessions(config)
        check_dataset_models_lists(config)
        written = copy.deepcopy(config)
        try:
            sweeps = declared_sweeps(written, expand_sweeps(config))
            check_workflow_config(config)
        except NeurodynError:
            raise
        except Exception:
            # a structure the package's checks cannot walk (a list for a mapping, a missing
            # section): the schema names the key
            problem = schema_problem(written, schema)
            if problem is None:
                raise
            raise problem from None
        check_spike_binning(config)
        problem = schema_problem(written, schema)
        if problem is not None:
            raise problem
    except NeurodynError as exc:
        raise locate_in_sheet(exc, config) from None
    fill_defaults(config, schema)
    return sweeps


__all__ = [
    "check_spike_binning",
    "check_top_level_keys",
    "fill_defaults",
    "is_spike_source",
    "prepare_workflow_config",
    "schema_problem",
]
