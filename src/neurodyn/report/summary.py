"""The summary that opens a dataset report: per model one plain sentence with its numbers, the best
model per headline metric, and the ground truth where there is one. Plain text only
(:mod:`neurodyn.report.page` escapes it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from neurodyn.report.formatting import best_indices, format_number, numeric
from neurodyn.report.results import MetricColumn, ModelResult


@dataclass(frozen=True)
class Best:
    """The best model(s) of one headline column and their value."""

    column: MetricColumn
    models: tuple[str, ...]
    value: float


def best_per_column(models: Sequence[ModelResult], columns: Sequence[MetricColumn]) -> list[Best]:
    """For every ranked column at least two models have, the best model(s) and value."""
    out = []
    for column in columns:
        values = [(m.metrics or {}).get(column.key) for m in models]
        best = sorted(best_indices(values, column.better))
        if best:
            out.append(Best(column, tuple(models[i].name for i in best), float(values[best[0]])))
    return out


def _number(value: Any, unit: str = "") -> str | None:
    x = numeric(value)
    if x is None:
        return None
    return f"{format_number(x)} {unit}".strip()


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else ("es" if word.endswith(("s", "sh", "ch")) else "s"))


def fixed_point_phrase(points: Sequence[dict[str, Any]]) -> str:
    """'1 fixed point: an unstable spiral (linearised rotation 8.6 Hz, decay time 0.1 s)' and the like."""
    if not points:
        return "no fixed point was found"
    kinds = Counter(str(p.get("kind") or ("stable" if p.get("stable") else "unstable")) for p in points)
    listed = ", ".join(_count(n, kind) if n > 1 else f"1 {kind}" for kind, n in kinds.most_common())
    text = f"{_count(len(points), 'fixed point')} ({listed})"
    rotating = next((p for p in points if numeric(p.get("rotation_hz")) is not None), None)
    if rotating is not None:
        tau = numeric(rotating.get("rotation_time_constant_s"))
        where = "" if len(points) == 1 else f" at its {rotating.get('kind') or 'first rotating point'}"
        decay = f", time constant {format_number(abs(tau))} s" if tau is not None else ""
        text += f"; linearised rotation {format_number(float(rotating['rotation_hz']))} Hz{decay}{where}"
    return text


def fixed_point_search_sentence(search: dict[str, Any]) -> str:
    """How the fixed points were found and how complete that search looks, in a sentence or two
    ('' without a record)."""
    mode = search.get("mode")
    if not mode:
        return ""
    if mode == "exact":
        return f"Every fixed point, solved exactly ({search.get('method', 'exact solver')})."
    if mode == "heuristic":
        return f"Fixed points from a heuristic search ({search.get('method', '')}); it can miss some."
    if mode == "visited":
        return (
            f"Numerical search from {search.get('n_starts', '?')} visited states only (analysis.fixed_point_search: "
            "visited): fixed points that no free run approaches, such as sources, can be missing."
        )
    found_by = {k: v for k, v in (search.get("found_by") or {}).items() if v}
    sources = ", ".join(f"{n} {k.replace('_', '-')}" for k, n in found_by.items()) or "none"
    text = (
        f"Numerical search ({str(mode).replace('_', '-')}): {search.get('n_starts', '?')} starts in the region "
        f"that holds the fixed points ({search.get('region_kind') or 'as given'}), Newton with deflation; "
        f"first found by: {sources}."
    )
    new, quiet = search.get("new_in_last_round"), search.get("rounds_without_new_points") or 0
    if search.get("truncated"):
        text += (
            f" The search stopped at {search.get('n_fixed_points')} points: the map likely has a continuum of "
            "fixed points (a line or ring attractor), which a list of points cannot show."
        )
    elif new:
        text += f" Its last round of fresh starts still found {_count(int(new), 'new point')}: the list is likely incomplete."
    elif quiet:
        text += f" The last {_count(int(quiet), 'round')} of fresh starts found no new point"
        total = numeric(search.get("estimated_total"))
        if total is not None:
            shown = f"{total:.0f}" if float(total).is_integer() else f"{total:.1f}"
            text += f"; estimated total {shown} (Chao 1984, from how many starts reached each point)"
        text += "."
    return text


def model_sentence(model: ModelResult, kind: str, best: Sequence[Best]) -> str:
    """One sentence on what ``model`` found and how well it predicts and generates, its best
    headline values marked '(best)'."""
    m = model.metrics or {}
    best_keys = {b.column.key for b in best if model.name in b.models}

    def value(key: str, unit: str = "") -> str | None:
        text = _number(m.get(key), unit)
        if text is not None and key in best_keys:
            text += " (best)"
        return text

    parts = []
    if kind == "counts":
        co, psth = value("co_bps", "bits/spike"), value("psth_r2_heldout")
        said = [t for t in (co and f"{co} on held-out neurons", psth and f"held-out PSTH R² {psth}") if t]
        if said:
            parts.append("predicts " + " with ".join(said) if len(said) == 1 else f"predicts {said[0]}, {said[1]}")
    else:
        r2 = value("r2_heldout")
        if r2:
            parts.append(f"predicts held-out channels with R² {r2}")
    decoded = value("behavior_r2")
    if decoded:
        baseline = _number(m.get("behavior_r2_recorded"))
        parts.append(f"decodes behaviour with R² {decoded}" + (f" (recorded rates: {baseline})" if baseline else ""))
    if m.get("generation_diverged"):
        parts.append("its free runs diverge")
    else:
        dstsp, dh = value("d_stsp", "nats"), value("d_h")
        scores = " and ".join(t for t in (dstsp and f"D_stsp {dstsp}", dh and f"D_H {dh}") if t)
        if scores:
            parts.append(f"its free runs differ from the recording by {scores}{_coverage_remark(m)}")
        peak, recorded = _number(m.get("generated_peak_hz"), "Hz"), _number(m.get("recorded_peak_hz"), "Hz")
        if peak:
            parts.append(f"their activity peaks at {peak}" + (f" (recording: {recorded})" if recorded else ""))
    found = fixed_point_phrase(model.fixed_points or [])
    sentence = "; ".join(parts) if parts else "has no scores"
    return f"{sentence}. Its latent map has {found}." if model.fixed_points else f"{sentence}; {found}."


def _coverage_remark(m: dict[str, Any]) -> str:
    """A warning after the D_stsp figure when few generated steps fall inside the box its
    histograms span: those steps are dropped, so the figure flatters the model."""
    coverage = numeric(m.get("d_stsp_coverage"))
    if coverage is None or m.get("d_stsp") is None or coverage >= 0.5:
        return ""
    if coverage == 0:
        return " (no generated step lies in the recording's range, so D_stsp says only that)"
    return f" (only {coverage:.0%} of the generated steps lie in the recording's range, so D_stsp flatters them)"


def ground_truth_sentence(truth: dict[str, Any], models: Sequence[ModelResult]) -> str:
    """What the simulating teacher has and which models recover it."""
    points = [p for p in truth.get("fixed_points", []) or [] if isinstance(p, dict)]
    stable = sum(bool(p.get("stable")) for p in points)
    cycle = truth.get("limit_cycle") if isinstance(truth.get("limit_cycle"), dict) else {}
    cycle_hz = numeric((cycle or {}).get("frequency_hz"))
    text = f"The teacher has {_count(len(points), 'fixed point')} ({stable} stable)"
    if cycle_hz is not None:
        text += f" and a limit cycle at {format_number(cycle_hz)} Hz"
    recovered = [m.name for m in models if (m.metrics or {}).get("n_stable_fixed_points") == stable]
    text += ". Stable fixed-point count recovered by " + (", ".join(recovered) if recovered else "no model")
    if cycle_hz is not None:
        peaks = [
            (abs(p - cycle_hz), m.name, p) for m in models if (p := numeric((m.metrics or {}).get("generated_peak_hz")))
        ]
        if peaks:
            _, name, peak = min(peaks)
            text += f"; the free run closest to the teacher's rhythm is {name}'s ({format_number(peak)} Hz)"
    return text + "."
