"""Plain text for the report's values: numbers, missing values, keys, file- and anchor-safe names.

Nothing here produces markup; :mod:`neurodyn.report.page` escapes what these return.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

MISSING = "—"


def format_number(value: float, digits: int = 3) -> str:
    """Fixed-point with ``digits`` decimals; 3 significant digits when very large or small."""
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    magnitude = abs(value)
    if magnitude >= 1e4 or 0 < magnitude < 10**-digits:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def format_value(value: Any) -> str:
    """Plain text for one value: None / NaN → '—', numbers via :func:`format_number`."""
    if value is None:
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_number(float(value))
    if isinstance(value, dict):
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items()) or MISSING
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(format_value(v) for v in value) or MISSING
    text = str(value)
    return text if text else MISSING


def numeric(value: Any) -> float | None:
    """A finite float, or None for anything else (bools, strings, None, NaN)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def best_indices(values: Sequence[Any], better: str | None) -> set[int]:
    """Positions holding the best value ('higher' or 'lower' is better); empty unless ≥ 2 compare."""
    if better not in ("higher", "lower"):
        return set()
    numbers = [(i, v) for i, v in enumerate(numeric(x) for x in values) if v is not None]
    if len(numbers) < 2:
        return set()
    pick = max if better == "higher" else min
    best = pick(v for _, v in numbers)
    return {i for i, v in numbers if v == best}


def readable_key(key: str) -> str:
    """'frequency_hz' → 'frequency (Hz)', 'period_s' → 'period (s)', other '_' → ' '."""
    for suffix, unit in (("_hz", "Hz"), ("_s", "s")):
        if key.endswith(suffix) and len(key) > len(suffix):
            return f"{key[: -len(suffix)].replace('_', ' ')} ({unit})"
    return key.replace("_", " ")


def slug(text: str) -> str:
    """A file- and anchor-safe name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "model"
