"""The ground-truth section of the dataset report: the teacher's fixed points and limit cycle, and
the models' frequencies and fixed-point counts against them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from neurodyn.report import figures as fg
from neurodyn.report.formatting import MISSING, format_number, numeric, readable_key
from neurodyn.report.page import html_table, render, table_cell, text_cell
from neurodyn.report.results import ModelResult


def ground_truth_section(truth: dict[str, Any], models: Sequence[ModelResult]) -> Markup:
    points = [p for p in truth.get("fixed_points", []) or [] if isinstance(p, dict)]
    cycle = truth.get("limit_cycle")
    cycle = cycle if isinstance(cycle, dict) and cycle else None
    return render(
        "dataset/ground_truth.html",
        description=truth.get("description"),
        fixed_points=_teacher_fixed_points(points),
        limit_cycle=_limit_cycle(cycle) if cycle else None,
        frequencies=_frequencies(models, points, numeric(cycle.get("frequency_hz")) if cycle else None),
        fixed_point_counts=_fixed_point_counts(models, points),
        parameters={k: v for k, v in truth.items() if k in ("parameters", "config", "equations")},
    )


def _eigenvalue_text(value: Any) -> str:
    values = fg.complex_values([value])
    if values.size == 0:
        return MISSING
    z = values[0]
    if abs(z.imag) < 1e-12:
        return format_number(z.real)
    sign = "+" if z.imag >= 0 else "-"
    return f"{format_number(z.real)} {sign} {format_number(abs(z.imag))}i"


def _teacher_fixed_points(points: Sequence[dict[str, Any]]) -> Markup:
    """The teacher's fixed points ('' without any)."""
    if not points:
        return Markup()
    rows = []
    for i, p in enumerate(points):
        try:
            eig = ", ".join(_eigenvalue_text(v) for v in p.get("eigenvalues", []) or []) or MISSING
        except (TypeError, ValueError):
            eig = MISSING
        freqs = sorted({round(float(f), 6) for f in p.get("frequencies_hz", []) or [] if numeric(f) is not None})
        rows.append(
            [
                table_cell(i),
                table_cell(p.get("kind")),
                table_cell(p.get("stable")),
                table_cell(p.get("z")),
                text_cell(eig),
                table_cell(freqs or None),
                table_cell(p.get("time_constants_s")),
            ]
        )
    header = [
        "#",
        "kind",
        "stable",
        "z",
        "eigenvalues (1/s)",
        "frequencies (Hz)",
        "time constants (s; negative = growing)",
    ]
    return html_table(header, rows)


def _limit_cycle(cycle: dict[str, Any]) -> Markup:
    rows = [
        [text_cell(readable_key(str(k)), tag="th"), table_cell(v)]
        for k, v in cycle.items()
        if not isinstance(v, (dict, list))
    ]
    return html_table(["property", "value"], rows)


def _frequencies(models: Sequence[ModelResult], points: Sequence[dict[str, Any]], cycle_hz: float | None) -> Markup:
    """Each model's free-run spectral peak and linearised rotation against the teacher's
    frequencies ('' without models)."""
    if not models:
        return Markup()
    teacher_freqs = sorted(
        {round(float(f), 3) for p in points for f in p.get("frequencies_hz", []) or [] if numeric(f) is not None}
    )
    rows = [
        [
            text_cell(model.name),
            table_cell((model.metrics or {}).get("generated_peak_hz")),
            table_cell(next((p.get("rotation_hz") for p in model.fixed_points or [] if p.get("rotation_hz")), None)),
            table_cell(cycle_hz),
            table_cell(teacher_freqs or None),
        ]
        for model in models
    ]
    header = [
        "model",
        "free-run spectral peak (Hz)",
        "linearised rotation at a fixed point (Hz)",
        "teacher limit cycle (Hz)",
        "teacher fixed-point frequencies (Hz)",
    ]
    return html_table(header, rows)


def _fixed_point_counts(models: Sequence[ModelResult], points: Sequence[dict[str, Any]]) -> Markup:
    """Each model's (stable) fixed-point count against the teacher's ('' without models)."""
    if not models:
        return Markup()
    teacher_stable = sum(bool(p.get("stable")) for p in points)
    rows = []
    for model in models:
        found = (model.metrics or {}).get("n_stable_fixed_points")
        rows.append(
            [
                text_cell(model.name),
                table_cell((model.metrics or {}).get("n_fixed_points")),
                table_cell(len(points)),
                table_cell(found),
                table_cell(teacher_stable),
                table_cell(None if found is None else found == teacher_stable),
            ]
        )
    header = ["model", "fixed points", "teacher fixed points", "stable", "teacher stable", "stable count recovered"]
    return html_table(header, rows)
