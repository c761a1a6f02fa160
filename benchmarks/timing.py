"""Timing and run-record helpers shared by the benchmark scripts.

Importing this module loads only the standard library: torch is looked at only when the calling
script has already imported it, so start-up benchmarks can write records too.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, NoReturn

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Best wall time (s) of ``repeats`` calls of ``fn`` and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def per_epoch_seconds(times: dict[int, list[float]], e1: int, e2: int) -> float:
    """Seconds per epoch from whole-run times of e1 and e2 epochs (paired repeats):
    median of (t(e2) − t(e1)) / (e2 − e1), so set-up and compilation cancel."""
    return statistics.median(b - a for a, b in zip(times[e1], times[e2], strict=True)) / (e2 - e1)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _jsonable(value: Any) -> Any:
    """JSON form of the values the scripts report: paths, complex numbers, numpy scalars and arrays."""
    if isinstance(value, complex):
        return {"re": value.real, "im": value.imag}
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _threads() -> dict[str, Any]:
    """CPU threads the process may use: affinity, thread-count variables and torch's pool (if loaded)."""
    out: dict[str, Any] = {
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        **{var: os.environ.get(var) for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")},
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.get_num_threads()
    return out


def write_record(args, total_time_s: float | None, *, announce: bool = True, **fields: Any) -> dict[str, Any]:
    """The run's record: benchmark name, date, the command-line settings (all but ``json``), machine,
    CPU count, threads, python/numpy/torch/neurodyn versions, total time and ``fields`` (the figures:
    ``baseline``, ``candidate``, ``ratio``, ``floor`` where the script has them); written to
    ``args.json`` when that option is set (its folder is created)."""
    record = {
        "benchmark": Path(sys.argv[0]).stem.removeprefix("bench_"),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        },
        "threads": _threads(),
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in ("numpy", "torch", "neurodyn")},
        },
        "total_time_s": total_time_s,
        **fields,
    }
    if getattr(args, "json", None):
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1, default=_jsonable) + "\n")
        if announce:
            print(f"wrote {path}")
    return record


def skip(args, reason: str) -> NoReturn:
    """Skip the benchmark (its baseline or data is unavailable): one line, a record saying why, exit 0."""
    write_record(args, None, announce=False, skipped=reason)
    print(f"skipped: {reason}")
    raise SystemExit(0)
