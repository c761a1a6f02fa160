"""What a reported metric is: key, label, unit, which direction is better, the data it applies to,
and a one-sentence definition. Reports, the index and the glossary render from these.

The analysis declares its metrics in :mod:`neurodyn.analysis.metrics.registry`; a model family
declares the metrics of its own diagnostics in ``FittedModel.diagnostic_metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("counts", "continuous")


@dataclass(frozen=True)
class MetricSpec:
    """key: the name in metrics.json; label: a column header; unit: "" when dimensionless;
    better: "higher", "lower" or None (not a score); kinds: the data kinds it applies to;
    definition: one sentence a reader understands."""

    key: str
    label: str
    unit: str
    better: str | None
    kinds: tuple[str, ...]
    definition: str

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"metric {self.key}: better must be 'higher', 'lower' or None")
        if not self.kinds or any(k not in KINDS for k in self.kinds):
            raise ValueError(f"metric {self.key}: kinds must be a non-empty subset of {KINDS}")
        if not self.definition.strip():
            raise ValueError(f"metric {self.key}: needs a definition")


__all__ = ["KINDS", "MetricSpec"]
