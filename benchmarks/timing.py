"""Timing and run-record helpers shared by the benchmark scripts."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time (s) of ``repeats`` calls of ``fn`` and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def write_record(args, total_time_s: float, **fields: Any) -> dict[str, Any]:
    """The run's record: the command-line settings (all but ``json``), torch and platform versions,
    total time and ``fields``; written to ``args.json`` when that option is set."""
    import torch

    record = {
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "torch": torch.__version__,
        "platform": platform.platform(),
        "total_time_s": total_time_s,
        **fields,
    }
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)
        print(f"wrote {args.json}")
    return record
