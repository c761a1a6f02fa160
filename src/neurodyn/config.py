"""Checks of the workflow configuration that go beyond its JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) fixes structure and types; this module asks
each part of the package whether it accepts its options, so a wrong option or combination is
reported — naming the key — before any job runs.
"""

from __future__ import annotations

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
