"""Hyperparameter sweeps among a dataset's models: which option varies, and metrics against it.

Models of one family whose fitted configurations differ only in numeric options form a sweep
(e.g. the rPLRNN regularisation τ at several latent sizes M). The option with the most distinct
values is the x axis (between options with as many values, the one spanning more decades); any other varying option (except ``seed``) splits the sweep into series;
models that differ only in ``seed`` are replicates, summarised by mean ± standard error — the
form of Schmidt et al. 2021 (ICLR), Fig. 3A–C. Models whose metric is missing (e.g. a free run
that diverged) are left out of that metric and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

REPLICATE_KEY = "seed"
MIN_POINTS = 2


@dataclass
class SweepPoint:
    """One x value of one series: the mean and standard error of a metric over replicates."""

    x: float
    mean: float
    sem: float
    n: int
    n_missing: int


@dataclass
class Sweep:
    """A sweep over ``x_key`` within one family; ``series`` maps a label (e.g. ``latent_dim=8``,
    or ``all`` when nothing else varies) to the models' names at each x value."""

    family: str
    x_key: str
    series_keys: list[str]
    models: dict[str, dict[float, list[str]]] = field(default_factory=dict)

    def points(self, metrics: dict[str, dict[str, Any]], metric: str, series: str | None = None) -> list[SweepPoint]:
        """Mean ± SEM of ``metric`` per x value, for one series or (None) pooled over all series."""
        pooled: dict[float, list[str]] = {}
        for label, by_x in self.models.items():
            if series is None or label == series:
                for x, names in by_x.items():
                    pooled.setdefault(x, []).extend(names)
        out = []
        for x in sorted(pooled):
            values = [_number(metrics.get(name, {}).get(metric)) for name in pooled[x]]
            good = [v for v in values if v is not None]
            if not good:
                continue
            mean = sum(good) / len(good)
            var = sum((v - mean) ** 2 for v in good) / (len(good) - 1) if len(good) > 1 else 0.0
            out.append(
                SweepPoint(
                    x=x, mean=mean, sem=math.sqrt(var / len(good)), n=len(good), n_missing=len(values) - len(good)
                )
            )
        return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def _decades(members: dict[str, dict[str, Any]], key: str) -> float:
    """How many decades the positive values of an option span (0 when fewer than two)."""
    positive = [float(c[key]) for c in members.values() if float(c[key]) > 0]
    return math.log10(max(positive) / min(positive)) if len(positive) > 1 else 0.0


def find_sweeps(configs: dict[str, tuple[str, dict[str, Any]]]) -> list[Sweep]:
    """Sweeps inferred among models given as ``name → (family, fitted config)``, for reports built
    without the workflow's sweep declarations (see :func:`declared_sweeps`).

    A family forms a sweep when at least ``MIN_POINTS`` distinct values of one numeric option
    occur and every option that varies is numeric. Returns one :class:`Sweep` per family.
    """
    by_family: dict[str, dict[str, dict[str, Any]]] = {}
    for name, (family, config) in configs.items():
        by_family.setdefault(family, {})[name] = config
    sweeps = []
    for family, members in sorted(by_family.items()):
        keys = sorted(set().union(*(c.keys() for c in members.values())))
        varying = [k for k in keys if len({_hashable(c.get(k)) for c in members.values()}) > 1]
        if any(_number(c.get(k)) is None for k in varying for c in members.values()):
            continue  # a non-numeric option varies: these are different models, not a sweep
        sweep = _sweep(family, members, [k for k in varying if k != REPLICATE_KEY])
        if sweep is not None:
            sweeps.append(sweep)
    return sweeps


def declared_sweeps(declared: dict[str, dict[str, Any]], configs: dict[str, tuple[str, dict[str, Any]]]) -> list[Sweep]:
    """Sweeps as the workflow declared them (``model → {"options": swept options, "members":
    expanded model names}``, from :func:`neurodyn.stages.config.declared_sweeps`), among the models
    of ``configs`` (``name → (family, fitted config)``); members absent from ``configs`` are skipped."""
    sweeps = []
    for _, declaration in sorted(declared.items()):
        members = {n: configs[n][1] for n in declaration["members"] if n in configs}
        if not members:
            continue
        family = configs[next(iter(members))][0]
        numeric = [k for k in declaration["options"] if all(_number(c.get(k)) is not None for c in members.values())]
        sweep = _sweep(family, members, [k for k in numeric if k != REPLICATE_KEY])
        if sweep is not None:
            sweeps.append(sweep)
    return sweeps


def _sweep(family: str, members: dict[str, dict[str, Any]], swept: list[str]) -> Sweep | None:
    """The sweep over ``swept`` options among ``members`` (name → config): the option with the most
    values (then the most decades) is the x axis, the others label series; None with fewer than
    ``MIN_POINTS`` x values."""
    if not swept:
        return None
    x_key = max(swept, key=lambda k: (len({c[k] for c in members.values()}), _decades(members, k), -swept.index(k)))
    if len({c[x_key] for c in members.values()}) < MIN_POINTS:
        return None
    series_keys = [k for k in swept if k != x_key]
    sweep = Sweep(family=family, x_key=x_key, series_keys=series_keys)
    # series in numeric order of their options, models within a point by name
    for name, config in sorted(members.items(), key=lambda item: ([item[1][k] for k in series_keys], item[0])):
        label = ", ".join(f"{k}={config[k]:g}" for k in series_keys) or "all"
        sweep.models.setdefault(label, {}).setdefault(float(config[x_key]), []).append(name)
    return sweep


def sweep_rows(sweep: Sweep, metrics: dict[str, dict[str, Any]], metric_keys: Sequence[str]) -> list[list[Any]]:
    """Table rows: x value, then per metric the pooled mean ± SEM (n), over all series."""
    columns = {m: {p.x: p for p in sweep.points(metrics, m)} for m in metric_keys}
    xs = sorted({x for by_x in sweep.models.values() for x in by_x})
    rows = []
    for x in xs:
        row: list[Any] = [x]
        for m in metric_keys:
            p = columns[m].get(x)
            row.append(None if p is None else (p.mean, p.sem, p.n, p.n_missing))
        rows.append(row)
    return rows
