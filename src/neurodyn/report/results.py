"""What the report shows of fitted models: :class:`ModelResult`, and the metric columns of the
model tables (from the metric registry of the analysis and the registered families)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import xarray as xr

from neurodyn.analysis.evaluate import AnalysisResult
from neurodyn.analysis.metrics.registry import metric_registry
from neurodyn.metric_spec import MetricSpec
from neurodyn.models import FAMILIES
from neurodyn.report.formatting import readable_key


@dataclass
class ModelResult:
    """Everything the report shows about one fitted model.

    metrics: evaluation metrics (any may be missing or None); protocol: how they were computed;
    fixed_points: dicts with z, stable, kind, eigenvalues ([re, im]), time_constants_s,
    frequencies_hz, spectral_radius, method; arrays: evaluation arrays (latents (trial, time,
    latent), prediction, generated_latents, generated_data, psd_recorded / psd_generated
    (channel, frequency), ...); fit: e.g. {"seconds": 1.2, "device": "cpu"}; config: the fitted
    model's options (with ``seed``), from which sweeps among models are found; distillation: the
    smallest low-rank tanh RNN of the latent map (:mod:`neurodyn.analysis.distill`); expansion: the
    expansion-point modes and the jPCA comparison of a model that linearises its map at expansion
    points (:func:`neurodyn.analysis.evaluate.expansion_step`); training: the curves of its fit
    (``FittedModel.training_curves``: ``x``, ``steps``, ``series``), empty without iterative
    training; behavior: the behaviour-decoding section (penalty, per-dimension R²), empty without
    behaviour; fixed_point_search: how the fixed points were found and how complete the search looks
    (:func:`neurodyn.analysis.fixed_points.locate_fixed_points`), empty for older results.
    """

    name: str
    family: str
    metrics: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)
    fixed_points: list[dict[str, Any]] = field(default_factory=list)
    arrays: xr.Dataset | None = None
    fit: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    distillation: dict[str, Any] = field(default_factory=dict)
    expansion: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    behavior: dict[str, Any] = field(default_factory=dict)
    fixed_point_search: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_result(cls, name: str, result: AnalysisResult) -> ModelResult:
        """What the report shows of an analysis result (family, fit and options from ``result.about``)."""
        return cls(
            name=name,
            family=result.about.get("family", "?"),
            metrics=result.metrics,
            protocol=result.protocol,
            fixed_points=result.fixed_points,
            arrays=result.arrays,
            fit=result.about.get("fit", {}),
            config=result.about.get("model_config", {}),
            distillation=result.distillation or {},
            expansion=result.expansion or {},
            training=result.about.get("training") or {},
            behavior=getattr(result, "behavior_decoding", None) or {},
            fixed_point_search=getattr(result, "fixed_point_search", None) or {},
        )


@dataclass(frozen=True)
class MetricColumn:
    """One column of a model table: a metric's key, header label (with unit), which direction is
    better (None: not ranked), its one-sentence definition (the header's tooltip), its unit and its
    label without the unit."""

    key: str
    label: str
    better: str | None = None
    definition: str = ""
    unit: str = ""
    name: str = ""

    @classmethod
    def of(cls, spec: MetricSpec) -> MetricColumn:
        label = f"{spec.label} ({spec.unit})" if spec.unit else spec.label
        return cls(spec.key, label, spec.better, spec.definition, spec.unit, spec.label)

    @property
    def direction(self) -> str:
        """'higher is better', 'lower is better' or 'not a score'."""
        return f"{self.better} is better" if self.better else "not a score"

    @property
    def explanation(self) -> str:
        """The definition with the direction that is better ('' without a definition)."""
        if not self.definition:
            return ""
        direction = {"higher": " Higher is better.", "lower": " Lower is better."}.get(self.better or "", "")
        return self.definition + direction


def metric_specs() -> dict[str, MetricSpec]:
    """Every metric the analysis and the registered families declare, by key."""
    return metric_registry(FAMILIES.values())


# the headline of each data kind: what a reader compares models by first (the full table has the rest)
HEADLINE_KEYS: dict[str, tuple[str, ...]] = {
    "counts": ("co_bps", "psth_r2_heldout", "behavior_r2", "d_stsp", "d_h", "generated_peak_hz", "n_fixed_points"),
    "continuous": ("r2_heldout", "behavior_r2", "d_stsp", "d_h", "pse_low", "generated_peak_hz", "n_fixed_points"),
}


def headline_columns(models: Sequence[ModelResult], kind: str) -> list[MetricColumn]:
    """The headline metrics of this data kind that any model has, in :data:`HEADLINE_KEYS` order."""
    present = {k for m in models for k, v in (m.metrics or {}).items() if v is not None}
    specs = metric_specs()
    return [MetricColumn.of(specs[k]) for k in HEADLINE_KEYS.get(kind, ()) if k in present and k in specs]


def comparison_columns(models: Sequence[ModelResult], kind: str) -> list[MetricColumn]:
    """The evaluation split, then every registered metric for this data kind that any model has (in
    registry order), then unknown scalar metrics."""
    present = {k for m in models for k, v in (m.metrics or {}).items() if not isinstance(v, dict | list)}
    specs = metric_specs()
    columns = [MetricColumn("eval_split", "eval split", None, "The trials the metrics are computed on.")]
    columns += [MetricColumn.of(spec) for spec in specs.values() if spec.key in present and kind in spec.kinds]
    extra = sorted(k for k in present if k not in specs and k != "eval_split")
    return columns + [MetricColumn(k, readable_key(k)) for k in extra]
