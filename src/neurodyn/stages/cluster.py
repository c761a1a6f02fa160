"""The workflow on a cluster: what each job asks the scheduler for, and the site settings.

The workflow knows how large its jobs are (a model entry's ``gpus``, ``threads``, ``mem_mb``,
``runtime``, see :class:`neurodyn.stages.config.JobResources`); the site knows where they may run.
Site settings are Snakemake default resources of the user's own profile (``--profile``), never of
the workflow profile: ``slurm_account`` and ``slurm_partition`` (read by the SLURM executor
plugin) and ``slurm_gpu_partition`` (read by the workflow: where fits that ask for GPUs go). A
value may name an environment variable (``"$SBATCH_ACCOUNT"``), expanded as Snakemake expands it.

Snakemake knows its executor only once the workflow file has been read, and a dry run replaces it
by the ``dryrun`` executor, so the workflow reads the intended executor the way Snakemake does:
from the command line, else the workflow profile, else the user profiles (later ones win)
(:func:`requested_settings`). :func:`check_site` then stops a SLURM run, dry runs included, with
one line before any job is submitted when a setting is missing or still a placeholder.
"""

from __future__ import annotations

import argparse
import ast
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from neurodyn.errors import NeurodynError

# profile keys that decide what the site check asks for
EXECUTOR_KEYS = ("executor", "slurm-array-jobs", "slurm-no-account")
SITE_RESOURCES = ("slurm_account", "slurm_partition", "slurm_gpu_partition")
# where the README tells a user how to write the profile
HOW_TO = "set them under default-resources in your own Snakemake profile (README: 'On a cluster')"


class SiteSettingsError(NeurodynError):
    """A SLURM run lacks an account or partition name, or still has a placeholder for one."""


def grown(first: int, attempt: int) -> int:
    """A job's memory (MB) or run time (minutes) on its ``attempt``-th try (1 for the first): twice
    the previous try's, so a job killed for memory or time asks for more when Snakemake retries it."""
    return int(first) * 2 ** (max(int(attempt), 1) - 1)


def resource_text(raw: Any) -> str | None:
    """A default resource's value as the SLURM plugin receives it: environment variables and ``~``
    expanded, a quoted Python string literal unquoted (profiles may write ``"'lab'"`` or ``"lab"``)."""
    if raw is None:
        return None
    text = os.path.expanduser(os.path.expandvars(str(raw))).strip()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = text
    return str(value).strip()


def is_placeholder(value: str | None) -> bool:
    """Whether a site setting is unset, empty, a ``<...>`` placeholder or an environment variable
    that was not set (``$NAME`` left as written)."""
    if value is None or not value.strip():
        return True
    text = value.strip()
    return (text.startswith("<") and text.endswith(">")) or "$" in text


@dataclass(frozen=True)
class SiteSettings:
    """Account and partition names of a SLURM site (``None``: not given)."""

    account: str | None = None
    partition: str | None = None
    gpu_partition: str | None = None

    @classmethod
    def from_resources(cls, resources: Mapping[str, Any] | None) -> SiteSettings:
        """The settings among Snakemake's default resources (name → raw value as written)."""
        resources = resources or {}
        account, partition, gpu_partition = (resource_text(resources.get(name)) for name in SITE_RESOURCES)
        return cls(account, partition, gpu_partition)

    def partition_for(self, gpus: int) -> str | None:
        """Where a job asking for ``gpus`` GPUs goes: the GPU partition if it asks for any, the
        partition of every other job otherwise (``None``: SLURM's default partition)."""
        chosen = self.gpu_partition if gpus > 0 else self.partition
        return None if is_placeholder(chosen) else chosen


def _profile_keys(path: Path | None) -> dict[str, Any]:
    if path is None or not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text()) or {}
    return {key: loaded[key] for key in EXECUTOR_KEYS if isinstance(loaded, dict) and key in loaded}


def requested_settings(
    argv: Sequence[str],
    environ: Mapping[str, str],
    find_profile: Callable[[str], Path | None],
    find_workflow_profile: Callable[[str], Path | None],
) -> dict[str, Any]:
    """The run's ``executor``, ``slurm-array-jobs`` and ``slurm-no-account`` as Snakemake resolves
    them: the user profiles (``--profile``, else ``$SNAKEMAKE_PROFILE``) in order, then the
    workflow profile, then the command line, each overriding the keys it sets."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--profile", action="append")
    parser.add_argument("--workflow-profile")
    parser.add_argument("--executor", "-e")
    parser.add_argument("--slurm-array-jobs")
    parser.add_argument("--slurm-no-account", action="store_const", const=True)
    known, _ = parser.parse_known_args(list(argv))
    profiles = known.profile if known.profile is not None else [environ.get("SNAKEMAKE_PROFILE") or "none"]
    settings: dict[str, Any] = {}
    for name in profiles:
        if name != "none":
            settings.update(_profile_keys(find_profile(name)))
    if known.workflow_profile and known.workflow_profile != "none":
        settings.update(_profile_keys(find_workflow_profile(known.workflow_profile)))
    given = {"executor": known.executor, "slurm-array-jobs": known.slurm_array_jobs}
    given["slurm-no-account"] = known.slurm_no_account
    settings.update({key: value for key, value in given.items() if value is not None})
    return settings


def array_rules(setting: Any) -> set[str]:
    """The rules ``--slurm-array-jobs`` names (``all`` for every rule)."""
    if not setting:
        return set()
    items = setting if isinstance(setting, list) else str(setting).replace(";", ",").split(",")
    return {str(item).strip() for item in items if str(item).strip()}


def check_site(
    site: SiteSettings,
    *,
    no_account: bool = False,
    gpu_models: Sequence[str] = (),
    arrays: Iterable[str] = (),
    fit_resources: Mapping[str, tuple] | None = None,
) -> None:
    """Raise :class:`SiteSettingsError` (one line) when a SLURM run cannot be submitted as asked:
    no account (unless ``--slurm-no-account``), no partition, no GPU partition while
    ``gpu_models`` ask for GPUs, or fits requested as SLURM job arrays although the models' fit
    resources differ (``fit_resources``: model → its resources; the plugin gives every task of an
    array the first task's resources)."""
    problems = []
    needed = [("slurm_account", site.account)] if not no_account else []
    needed.append(("slurm_partition", site.partition))
    if gpu_models:
        needed.append(("slurm_gpu_partition", site.gpu_partition))
    for name, value in needed:
        if value is None or not value.strip():
            reason = f" (models {', '.join(gpu_models)} ask for GPUs)" if name == "slurm_gpu_partition" else ""
            problems.append(f"{name} is not set{reason}")
        elif is_placeholder(value):
            problems.append(f"{name} is still the placeholder {value!r}")
    if problems:
        raise SiteSettingsError(f"SLURM site settings: {'; '.join(problems)}; {HOW_TO}")
    arrays = set(arrays)
    distinct = {resources for resources in (fit_resources or {}).values()}
    if arrays & {"fit", "all"} and len(distinct) > 1:
        raise SiteSettingsError(
            "SLURM job arrays: --slurm-array-jobs includes fit, but the models' fit resources differ "
            f"({', '.join(sorted(fit_resources))}) and every task of an array gets the first one's; "
            "array fits only for models with equal gpus/threads/mem_mb/runtime, or leave fit out"
        )
