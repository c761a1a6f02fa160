"""Command-line start-up: ``neurodyn … --help`` as whole processes, against the interpreter's floor.

Runs, alternating (one of each per round, after one warm-up round), ``python -c pass`` (the
interpreter's start: the floor), ``python -c "import argparse"`` (the floor plus the parser library)
and ``neurodyn --help`` and a few subcommands' ``--help``; prints each one's median wall time, its
ratio to the floor and whether it meets the 0.5 s target; writes a JSON record (machine, threads,
load, Python and neurodyn versions, every time) to ``--json``.

    python benchmarks/bench_cli_startup.py                  # 5 rounds
    python benchmarks/bench_cli_startup.py --quick          # 3 rounds
    python benchmarks/bench_cli_startup.py --repeats 30 --json /tmp/cli_startup.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import RESULTS, write_record

TARGET_S = 0.5
DEFAULT_JSON = RESULTS / "cli_startup.json"
HELP_COMMANDS = ((), ("ingest",), ("fit",), ("fixed-points",), ("options",), ("jslds", "train"))


def _neurodyn() -> list[str]:
    """The installed ``neurodyn`` script beside this interpreter, as a user runs it."""
    script = shutil.which("neurodyn", path=str(Path(sys.executable).parent))
    if script is None:
        return [sys.executable, "-c", "import sys; from neurodyn.cli import main; sys.exit(main())"]
    return [script]


def cases() -> dict[str, list[str]]:
    """Label → command line; the first is the floor."""
    out = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import argparse"': [sys.executable, "-c", "import argparse"],
    }
    for command in HELP_COMMANDS:
        out[" ".join(("neurodyn", *command, "--help"))] = [*_neurodyn(), *command, "--help"]
    return out


def wall_time(argv: list[str]) -> float:
    """Seconds from start to exit of one process; a failing command stops the benchmark."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return seconds


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=None, help="rounds timed, each runs every command once (default 5, quick 3)"
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"record file (default {DEFAULT_JSON})")
    args = parser.parse_args()
    args.repeats = args.repeats or (3 if args.quick else 5)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    commands = cases()
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    for argv in commands.values():  # warm-up: file caches, bytecode
        wall_time(argv)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeats):
        for label, argv in commands.items():
            times[label].append(wall_time(argv))
    load_after = os.getloadavg()

    floor_label = next(iter(commands))
    floor = statistics.median(times[floor_label])
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"median wall time of {args.repeats} alternating runs each; {threads} CPUs, "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"{'command':<34} {'median':>8} {'min':>8} {'× floor':>8}  target ≤ {TARGET_S:g} s")
    figures = {}
    for label, values in times.items():
        median = statistics.median(values)
        is_help = label.startswith("neurodyn")
        verdict = ("met" if median <= TARGET_S else "NOT met") if is_help else ""
        print(f"{label:<34} {median:8.3f} {min(values):8.3f} {median / floor:8.2f}  {verdict}")
        figures[label] = {
            "command": commands[label],
            "median_s": median,
            "min_s": min(values),
            "times_s": values,
            "ratio_to_floor": median / floor,
            **({"target_s": TARGET_S, "target_met": median <= TARGET_S} if is_help else {}),
        }

    return write_record(
        args,
        time.perf_counter() - t_start,
        load_average={"before": list(load_before), "after": list(load_after)},
        floor=floor_label,
        figures=figures,
    )


if __name__ == "__main__":
    main()
