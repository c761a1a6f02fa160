"""The analyze stage as a whole process: today's Jacobians against the torch.func path, alternating.

Sets up the demo's spikes (the embedded synthetic teacher, binned as ``make demo`` bins them) with
an ``lds`` and an ``smc_lowrank`` fitted at their quick options, then runs, in fresh processes and
alternating per round, ``analyze_stage`` on each model twice:

* baseline: the Jacobians of small maps by ``torch.func`` (``vmap(jacrev)`` in the fixed-point
  finder, ``jacrev`` for the transfer functions' ∂F/∂u), as before — the first torch.func
  transform of a process loads ``torch._dynamo`` (about 1 s);
* candidate: today's code, one reverse pass per latent for maps of ≤ 16 latents.

Prints each one's median wall time (the process, its imports and the analysis separately), the
ratio, the floor (the process importing the analyze stage and doing nothing) and the targets of
the performance issue (lds ≤ 3 s, smc_lowrank ≤ 10 s on 2 cores); the two paths' metrics must be
equal. Writes a JSON record with ``--json``.

    python benchmarks/bench_analyze.py --quick          # 2 rounds
    python benchmarks/bench_analyze.py --repeats 5 --json /tmp/analyze.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import RESULTS, write_record

TARGETS_S = {"lds": 3.0, "smc_lowrank": 10.0}

# run in a fresh interpreter: argv = mode, dataset store, model folder, output folder
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from neurodyn.stages.analyze import analyze_stage
import neurodyn.analysis.evaluate as evaluate
import neurodyn.analysis.fixed_points.numerical as numerical
imported = time.perf_counter() - t0
mode, store, model, out = sys.argv[1:5]
if mode == "baseline":
    numerical.SMALL_JACOBIAN_DIM = 0  # every Jacobian through vmap(jacrev)

    def func_jacobians(step, x):  # (P, in) -> (P, out, in) by torch.func, as before
        return torch.func.vmap(torch.func.jacrev(lambda row: step(row[None])[0]))(x)

    evaluate.row_jacobians = func_jacobians
t1 = time.perf_counter()
if mode != "floor":
    analyze_stage(store, model, None, out, device="cpu")
print(json.dumps({"import_s": imported, "analyze_s": time.perf_counter() - t1}))
"""


def prepare(root: Path) -> tuple[Path, dict[str, Path]]:
    """The demo spikes store and the two fitted models under ``root``."""
    import torch

    from neurodyn.data.binned import BinningOptions, bin_recording
    from neurodyn.io.registry import read_source
    from neurodyn.models import get_family
    from neurodyn.storage import write_store
    from neurodyn.synthetic import TeacherConfig, synthesize

    synthesize(TeacherConfig(), root / "syn")
    recording = read_source(root / "syn" / "recording.nwb", inputs=["stimulus"])
    binning = {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]}
    ds = bin_recording(recording, BinningOptions.from_config(binning))
    store = write_store(ds, root / "dataset.zarr")
    models = {}
    for family in ("lds", "smc_lowrank"):
        cls = get_family(family)
        models[family] = cls.fit(ds, dict(cls.quick_options), torch.device("cpu")).save(root / family)
    return store, models


def run(mode: str, store: Path, model: Path, out: Path) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(store), str(model), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {"process_s": time.perf_counter() - started, **times}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 3, quick 2)")
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--json", type=Path, default=None, help=f"record file (e.g. {RESULTS / 'analyze.json'})")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 3)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store, models = prepare(root)
        times: dict[str, dict[str, list[dict[str, float]]]] = {f: {"baseline": [], "candidate": []} for f in models}
        floor = []
        for r in range(repeats):
            floor.append(run("floor", store, models["lds"], root / "floor"))
            for family, model in models.items():
                for mode in ("baseline", "candidate") if r % 2 == 0 else ("candidate", "baseline"):
                    times[family][mode].append(run(mode, store, model, root / f"{family}_{mode}"))
        same = {
            family: json.loads((root / f"{family}_baseline" / "metrics.json").read_text())["metrics"]
            == json.loads((root / f"{family}_candidate" / "metrics.json").read_text())["metrics"]
            for family in models
        }
    floor_s = statistics.median(t["process_s"] for t in floor)
    print(f"{repeats} rounds, fresh processes, demo spikes (160 trials × 50 bins × 60 units)")
    print(f"floor (process importing the analyze stage, no analysis): {floor_s:.2f} s")
    results = {}
    for family, by_mode in times.items():
        med = {m: {k: statistics.median(t[k] for t in runs) for k in runs[0]} for m, runs in by_mode.items()}
        ratio = med["baseline"]["process_s"] / med["candidate"]["process_s"]
        target = TARGETS_S[family]
        for mode in ("baseline", "candidate"):
            m = med[mode]
            print(
                f"{family:12s} {mode:9s}: {m['process_s']:.2f} s (imports {m['import_s']:.2f} s, "
                f"analysis {m['analyze_s']:.2f} s)"
            )
        verdict = "meets" if med["candidate"]["process_s"] <= target else "misses"
        print(
            f"{family:12s} ratio {ratio:.2f}x; target {target:.0f} s: {verdict}; "
            f"metrics equal: {'yes' if same[family] else 'NO'}"
        )
        results[family] = {**med, "ratio": ratio, "target_s": target, "metrics_equal": same[family]}
    write_record(args, time.perf_counter() - started, floor_s=floor_s, results=results)
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
