"""Checks of the workflow configuration that go beyond its JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) fixes structure and types; this module asks
each part of the package whether it accepts its options, so a wrong option or combination is
reported — naming the key — before any job runs.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from neurodyn.errors import ConfigError

# keys of a model entry that configure the job, not the model
JOB_KEYS = ("gpus", "threads", "runtime", "mem_mb")


def model_options(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A model entry without its job keys (what the family's ``fit`` receives)."""
    return {k: v for k, v in config["models"][model].items() if k not in JOB_KEYS}


def analysis_options(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """Global analysis options overridden by the dataset's own."""
    return {**config.get("analysis", {}), **config["datasets"][dataset].get("analysis", {})}


def _value_token(value: Any) -> str:
    """A model-name-safe spelling of a swept value (4 significant digits): 0.5 → 0p5, -1 → m1,
    1e-05 → 1em05."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9]", lambda m: {".": "p", "-": "m"}.get(m.group(), ""), text)


def expand_sweeps(config: dict[str, Any]) -> dict[str, list[str]]:
    """Replace every model entry holding a ``sweep`` (option → list of values) by one entry per
    combination of values, named ``<model>-<option><value>...`` (e.g. ``bn-latent_dim8-tau0p5``),
    and every dataset's mention of the model by all of them. Changes ``config`` in place and
    returns ``model → expanded names``."""
    models = config.get("models", {})
    expanded: dict[str, Any] = {}
    members: dict[str, list[str]] = {}
    for name, entry in models.items():
        sweep = entry.get("sweep")
        if sweep is None:
            expanded[name] = entry
            members[name] = [name]
            continue
        where = f"models.{name}.sweep"
        if not isinstance(sweep, dict) or not sweep:
            raise ConfigError(where, "must map options to lists of values")
        for key, values in sweep.items():
            if key in ("family", "sweep", *JOB_KEYS):
                raise ConfigError(f"{where}.{key}", "cannot be swept")
            if not isinstance(values, list) or not values or len({repr(v) for v in values}) != len(values):
                raise ConfigError(f"{where}.{key}", "must be a non-empty list of distinct values")
        base = {k: v for k, v in entry.items() if k != "sweep"}
        members[name] = []
        for combo in itertools.product(*sweep.values()):
            child = name + "".join(f"-{k}{_value_token(v)}" for k, v in zip(sweep, combo))
            if child in models or child in expanded:
                raise ConfigError(where, f"expands to '{child}', which names another model")
            expanded[child] = {**base, **dict(zip(sweep, combo))}
            members[name].append(child)
    config["models"] = expanded
    for dataset in config.get("datasets", {}).values():
        dataset["models"] = list(
            dict.fromkeys(m for name in dataset.get("models", []) for m in members.get(name, [name]))
        )
    return members


def check_workflow_config(config: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key the package rejects."""
    from neurodyn.analysis.evaluate import resolve_config as resolve_analysis
    from neurodyn.ingest import BinningOptions
    from neurodyn.io.synthetic import TeacherConfig
    from neurodyn.models import get_family

    for name, generator in config.get("synthetic", {}).items():
        try:
            TeacherConfig.from_dict(dict(generator))
        except ConfigError as exc:
            raise ConfigError(f"synthetic.{name}.{exc.field}", exc.problem) from None
    for name in config.get("models", {}):
        options = model_options(config, name)
        try:
            family = get_family(options["family"])
            if hasattr(family, "resolve_config"):
                family.resolve_config(options)
        except ConfigError as exc:
            raise ConfigError(f"models.{name}.{exc.field.split('.')[-1]}", exc.problem) from None
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        source = dataset["source"]
        if source["kind"] == "synthetic" and source["generator"] not in config.get("synthetic", {}):
            raise ConfigError(f"{where}.source.generator", f"no generator '{source['generator']}' in `synthetic`")
        for model in dataset["models"]:
            if model not in config.get("models", {}):
                raise ConfigError(f"{where}.models", f"no model '{model}' in `models`")
        try:
            BinningOptions.from_config(dataset.get("binning"), dataset.get("split"), dataset.get("heldout"))
            resolve_analysis(analysis_options(config, name))
        except ConfigError as exc:
            raise ConfigError(f"{where}.{exc.field}", exc.problem) from None
