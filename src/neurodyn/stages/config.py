"""The workflow configuration, checked by the package's own option dataclasses.

The JSON schema (``workflow/schemas/config.schema.yaml``) is generated from the same dataclasses
(:mod:`neurodyn.stages.schema`); this module checks what a schema cannot (a model's family
decides its options, a dataset's source kind decides the reader's) and reports the first problem
naming its key, before any job runs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from neurodyn.analysis.evaluate import AnalysisOptions
from neurodyn.data.binned import BinningOptions, HeldoutOptions, SplitOptions
from neurodyn.device import DEVICE_PATTERN
from neurodyn.errors import ConfigError
from neurodyn.io.registry import READERS
from neurodyn.options import Options, join_key, option
from neurodyn.stages.data import reader_of
from neurodyn.stages.fit import check_model_config
from neurodyn.synthetic import TeacherConfig

SECTIONS_GROUP = "neurodyn.config_sections"


def study_sections() -> dict[str, tuple[dict[str, Any], list[tuple[str, type[Options]]]]]:
    """Configuration sections the installed studies contribute, by top-level key: (JSON schema,
    [(title, Options)]), the first group being the section itself."""
    found: dict[str, Callable[[], Any]] = {e.name: e.load() for e in entry_points(group=SECTIONS_GROUP)}
    return {name: make() for name, make in sorted(found.items())}


@dataclass(frozen=True)
class WorkflowOptions(Options):
    """Where the workflow writes, the device its jobs use, and the sessions sheet (rows become datasets)."""

    passthrough = ("synthetic", "models", "analysis", "datasets")

    results: str = option("results", "output folder")
    resources_dir: str = option("resources", "folder for generated inputs (synthetic recordings)")
    device: str = option("auto", "torch device of fits and analyses: auto (CUDA when present), cpu, cuda or cuda:N")
    sessions: str | None = option(
        None,
        "sessions sheet: a TSV file (relative to the working directory) with one row per recording "
        "(columns name, path, kind, template, models and dotted option keys such as binning.bin_size_s); "
        "each row becomes a dataset",
    )
    session_templates: dict[str, Any] = option(
        {},
        "named partial dataset entries (source options, binning, split, heldout, analysis, models) that "
        "sessions rows start from; a row without a template starts from `default` when there is one",
    )

    def check(self, where: str) -> None:
        if not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ConfigError(join_key(where, "device"), f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")


@dataclass(frozen=True)
class JobResources(Options):
    """What a model's fit and analyze jobs ask the scheduler for (keys of the model entry beside its
    options). Memory and run time are those of the first attempt: a retried job (Snakemake's
    ``--retries``) asks for twice as much each further attempt."""

    gpus: int = option(1, "GPUs a fit job asks for (fits use CUDA when present, the CPU otherwise)", ge=0)
    threads: int = option(1, "CPU threads of a fit job", ge=1)
    cpus_per_gpu: int = option(
        0, "CPUs per GPU of a fit job that asks for GPUs (SLURM --cpus-per-gpu); 0: `threads` CPUs per task", ge=0
    )
    runtime: int = option(120, "minutes a fit job may run", ge=1)
    mem_mb: int = option(4000, "memory of a fit job, MB", ge=100)
    analyze_threads: int = option(1, "CPU threads of the model's analyze job (it asks for no GPU)", ge=1)
    analyze_runtime: int = option(60, "minutes the model's analyze job may run", ge=1)
    analyze_mem_mb: int = option(4000, "memory of the model's analyze job, MB", ge=100)


# keys of a model entry that configure the job, not the model
JOB_KEYS = tuple(o.name for o in JobResources.describe())


def model_options(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A model entry without its job keys (what the fit stage receives: family, fit settings and
    the family's options)."""
    return {k: v for k, v in config["models"][model].items() if k not in JOB_KEYS}


def job_resource(config: dict[str, Any], model: str, key: str) -> Any:
    """A model's job resource, or its default (:class:`JobResources`)."""
    return config["models"][model].get(key, getattr(JobResources(), key))


def analysis_options(config: dict[str, Any], dataset: str) -> dict[str, Any]:
    """Global analysis options overridden by the dataset's own."""
    return {**config.get("analysis", {}), **config["datasets"][dataset].get("analysis", {})}


def check_model_entry(entry: Any, where: str) -> None:
    """A model entry: the job's resources beside what the fit stage checks (``family``, the fit
    settings and the family's own options)."""
    if not isinstance(entry, dict):
        raise ConfigError(where, f"expected a mapping of options, got {entry!r}")
    JobResources.parse({k: v for k, v in entry.items() if k in JOB_KEYS}, where)
    check_model_config({k: v for k, v in entry.items() if k not in JOB_KEYS}, where)


def check_source(source: dict[str, Any], where: str, generators: dict[str, Any]) -> None:
    kind = source.get("kind")
    if kind == "synthetic":
        if source.get("generator") not in generators:
            raise ConfigError(f"{where}.generator", f"no generator {source.get('generator')!r} in `synthetic`")
        reader = source.get("file", "nwb")
    else:
        if kind not in READERS:
            raise ConfigError(f"{where}.kind", f"must be one of {[*READERS, 'synthetic']}, got {kind!r}")
        if "path" not in source:
            raise ConfigError(f"{where}.path", "is required")
        reader = kind
    if reader not in READERS:
        raise ConfigError(f"{where}.file", f"must be nwb or edf, got {reader!r}")
    READERS[reader].Options.parse(reader_of(source)[1], where)


def _value_token(value: Any) -> str:
    """A model-name-safe spelling of a swept value (4 significant digits): 0.5 → 0p5, -1 → m1,
    1e-05 → 1em05."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9]", lambda m: {".": "p", "-": "m"}.get(m.group(), ""), text)


def declared_sweeps(config: dict[str, Any], members: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The sweeps a configuration declares, for the report: ``model → {"options": the swept
    options, "members": its expanded model names}``. ``config`` is the configuration before
    :func:`expand_sweeps`, ``members`` what that returned."""
    return {
        name: {"options": list(entry["sweep"]), "members": members[name]}
        for name, entry in (config.get("models") or {}).items()
        if isinstance(entry, dict) and isinstance(entry.get("sweep"), dict)
    }


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
    sections = study_sections()
    top = {k: v for k, v in config.items() if k not in sections}
    WorkflowOptions.parse(top, "")
    for key, (_, groups) in sections.items():
        if key in config:
            groups[0][1].parse(config[key], key)
    if not isinstance(config.get("datasets"), dict) or not config["datasets"]:
        raise ConfigError("datasets", "needs at least one dataset")
    generators = config.get("synthetic", {}) or {}
    for name, generator in generators.items():
        TeacherConfig.from_dict(generator, where=f"synthetic.{name}")
    for name, entry in (config.get("models", {}) or {}).items():
        check_model_entry(entry, f"models.{name}")
    AnalysisOptions.parse(config.get("analysis"), "analysis")
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        check_source(dataset["source"], f"{where}.source", generators)
        for model in dataset["models"]:
            if model not in config.get("models", {}):
                raise ConfigError(f"{where}.models", f"no model '{model}' in `models`")
        BinningOptions.parse(dataset.get("binning"), f"{where}.binning")
        SplitOptions.parse(dataset.get("split"), f"{where}.split")
        HeldoutOptions.parse(dataset.get("heldout"), f"{where}.heldout")
        AnalysisOptions.parse(analysis_options(config, name), f"{where}.analysis")
