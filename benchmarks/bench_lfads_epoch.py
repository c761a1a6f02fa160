"""LFADS-JSLDS training epoch on MC_Maze_Small: the JSLDS step's Jacobian-vector product in closed
form against forward-mode AD, and against LFADS alone.

MC_Maze_Small (DANDI 000140, the test-split file: 100 trials, 107 units, 20 ms bins, −250…450 ms
around movement onset, a quarter of the units held out), the paper's sizes (Smith, Linderman &
Sussillo 2021, Table 3: generator and encoders 100, initial condition 64, factors 40; as
``lfads_jslds_paper`` in config/shared_data.yaml), batch 16, CPU, one thread by default. Three
paths, alternating: LFADS without the JSLDS, LFADS-JSLDS with the closed-form product
(``jvp="auto"``, the default) and with ``torch.func.jvp`` (``jvp="autodiff"``, the path before).
Per-epoch time is (t(E₂ epochs) − t(E₁ epochs)) / (E₂ − E₁).

    .venv/bin/python benchmarks/bench_lfads_epoch.py [--quick] [--threads 1] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import time
from pathlib import Path

import torch
from timing import per_epoch_seconds, skip, write_record

import neurodyn.models.lfads_jslds.model as lfads_model
from neurodyn.api import ingest
from neurodyn.models.lfads_jslds.jslds import jslds_step

NWB = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "nwb"
    / "sub-Jenkins_ses-small_desc-test_ecephys.nwb"
)
PAPER = {"gen_dim": 100, "ic_enc_dim": 100, "ic_dim": 64, "factors_dim": 40, "batch_size": 16, "lr": 0.01}


@contextlib.contextmanager
def jvp_mode(mode: str):
    """Run the model's JSLDS step with ``jvp=mode``."""
    original = lfads_model.jslds_step
    lfads_model.jslds_step = functools.partial(jslds_step, jvp=mode)
    try:
        yield
    finally:
        lfads_model.jslds_step = original


def epochs_seconds(ds, path: str, epochs: int) -> float:
    cfg = {**PAPER, "epochs": epochs, "jslds": path != "lfads"}
    with jvp_mode("autodiff" if path == "jslds autodiff" else "auto"):
        start = time.perf_counter()
        lfads_model.LFADSJSLDS.fit(ds, cfg, torch.device("cpu"))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="epochs 1 and 3, one repeat")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=None, help="alternating repeats (default 3, quick 1)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not NWB.is_file():
        skip(args, f"needs {NWB}")
    torch.set_num_threads(args.threads)
    e1, e2 = (1, 3) if args.quick else (2, 6)
    repeats = args.repeats or (1 if args.quick else 3)
    ds = ingest(
        NWB,
        bin_size_s=0.02,
        align_event="move_onset_time",
        window_s=[-0.25, 0.45],
        split={"column": None, "seed": 0},
        heldout={"fraction": 0.25, "seed": 0},
    )
    paths = ["lfads", "jslds analytic", "jslds autodiff"]
    began = time.perf_counter()
    for path in paths:  # warm-up
        epochs_seconds(ds, path, 1)
    times = {p: {e1: [], e2: []} for p in paths}
    for _ in range(repeats):
        for epochs in (e1, e2):
            for path in paths:
                times[path][epochs].append(epochs_seconds(ds, path, epochs))
    per_epoch = {name: per_epoch_seconds(t, e1, e2) for name, t in times.items()}
    n_trials, n_bins = ds.sizes["trial"], ds.sizes["time"]
    print(
        f"LFADS-JSLDS epoch on MC_Maze_Small ({n_trials} trials × {n_bins} bins × {ds.sizes['channel']} units), "
        f"paper sizes, {args.threads} thread(s), epochs {e1}→{e2}, {repeats} repeat(s)"
    )
    for path, sec in per_epoch.items():
        print(f"  {path:15s} {sec:7.3f} s/epoch   {sec / per_epoch['lfads']:5.2f}× LFADS alone")
    speedup = per_epoch["jslds autodiff"] / per_epoch["jslds analytic"]
    print(f"  closed-form JVP: {speedup:.2f}× faster epochs than forward-mode AD")
    write_record(
        args,
        time.perf_counter() - began,
        epochs=[e1, e2],
        baseline=per_epoch["jslds autodiff"],
        candidate=per_epoch["jslds analytic"],
        ratio=speedup,
        lfads_alone=per_epoch["lfads"],
        raw_seconds={p: {str(k): v for k, v in t.items()} for p, t in times.items()},
    )


if __name__ == "__main__":
    main()
