"""Does smc_lowrank recover a ring-attractor teacher's fixed points, and from how many trials?

The teacher is the synthetic rank-2 network with ``dynamics: ring`` (G = g I, g = 2, 60 units, tanh):
for finite N its ring breaks into 4 stable nodes and 4 saddles around an unstable origin. For each
number of trials, a session is simulated (the workflow's generator, Poisson spikes, 8 stimulus
directions), ingested from its NWB file, binned at 20 ms around stimulus onset and fitted by
smc_lowrank (Pals et al. 2024: rank 2, tanh, 80 epochs, the demo's settings otherwise). The fitted latent map
is searched for fixed points by the default search (its box |z_r| ≤ Σᵢ|N_ir|/(1 − a_r), a
grid for 2 latents, deflation), and its count of stable nodes, saddles and sources is compared with
the teacher's. The fitted latents are an unknown invertible linear image of the teacher's, so
counts and kinds are what can be compared directly; beside them, the angles of the stable points
around the origin after mapping the fit's latents onto the teacher's by least squares on the
posterior latents of the training trials.

    python benchmarks/bench_ring_recovery.py [--trials 80,160,320,640,1280] [--seeds 0,1] [--epochs 80]
    python benchmarks/bench_ring_recovery.py --quick --json benchmarks/results/ring_recovery.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from timing import write_record

from neurodyn import api
from neurodyn.analysis.fixed_points import classify, locate_fixed_points
from neurodyn.synthetic import TeacherConfig
from neurodyn.synthetic.write import synthesize

BINNING = {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]}
SMC = {
    "rank": 2,
    "n_units": 32,
    "nonlinearity": "tanh",
    "particles": 16,
    "batch_size": 8,
    "lr": 0.01,
    "lr_end": 0.001,
    "window_steps": 50,
}


def kinds(points) -> dict[str, int]:
    counted = Counter(classify(np.asarray(p.eigenvalues)) for p in points)
    return {
        "stable": counted["stable node"] + counted["stable spiral"],
        "saddle": counted["saddle"],
        "unstable": counted["unstable node"] + counted["unstable spiral"],
    }


def teacher_summary(teacher: list[dict]) -> dict[str, int]:
    out = {"stable": 0, "saddle": 0, "unstable": 0}
    for p in teacher:
        out["stable" if p["stable"] else ("saddle" if p["kind"] == "saddle" else "unstable")] += 1
    return out


def angles_deg(points: np.ndarray) -> list[float]:
    return sorted(round(float(np.degrees(np.arctan2(p[1], p[0])) % 360), 1) for p in points)


def cursor_angles(
    model: api.Model, train, teacher_npz, stable_z: np.ndarray, source_z: np.ndarray | None
) -> tuple[list[float], list[float]]:
    """Angles (degrees) of the teacher's and the fit's stable points around their sources, in the
    cursor plane: a linear readout of the teacher's latents recorded with the spikes (cm in the
    teacher, metres in the NWB file; angles do not care). The fit's posterior latents are mapped onto
    the cursor by least squares (affine) on the training trials; the fit's centre is the image of its
    source (or of the latent origin when it has none)."""
    readout = teacher_npz["cursor_readout"]
    teacher = teacher_npz["fixed_points_z"][teacher_npz["fixed_points_stable"].astype(bool)]
    post = model.posterior(train)["latents"].values.reshape(-1, 2)
    X = np.c_[post, np.ones(len(post))]
    coef, *_ = np.linalg.lstsq(X, train["behavior"].values.reshape(-1, 2), rcond=None)
    centre = np.r_[np.zeros(2) if source_z is None else source_z, 1.0] @ coef
    fit = np.c_[stable_z, np.ones(len(stable_z))] @ coef if len(stable_z) else np.zeros((0, 2))
    return angles_deg(teacher @ readout.T), angles_deg(fit - centre)


def one_run(n_trials: int, seed: int, epochs: int, workdir: Path) -> dict:
    cfg = TeacherConfig(dynamics="ring", nonlinearity="tanh", n_trials=n_trials, seed=seed)
    files = synthesize(cfg, workdir / f"ring_{n_trials}_{seed}")
    teacher = json.loads(Path(files["teacher_json"]).read_text())["fixed_points"]
    dataset = api.ingest(files["nwb"], split={"column": "data_split"}, inputs=["stimulus"], **BINNING)
    t0 = time.perf_counter()
    model = api.fit(dataset, "smc_lowrank", seed=seed, device="cpu", epochs=epochs, **SMC)
    fit_s = time.perf_counter() - t0
    train = dataset.sel(trial=dataset["split"] == "train")
    located = locate(model, train)
    found = kinds(located.points)
    truth = teacher_summary(teacher)
    stable_z = np.array([p.z for p in located.points if p.stable]).reshape(-1, 2)
    sources = [p.z for p in located.points if classify(np.asarray(p.eigenvalues)).startswith("unstable")]
    source = sources[0] if len(sources) == 1 else None
    teacher_angles, fit_angles = cursor_angles(model, train, np.load(files["teacher_npz"]), stable_z, source)
    row = {
        "n_trials": n_trials,
        "seed": seed,
        "teacher": truth,
        "fit": found,
        "recovered": found == truth,
        "teacher_stable_angles_deg": teacher_angles,
        "fit_stable_angles_deg": fit_angles,
        "search": {k: located.search.get(k) for k in ("mode", "n_starts", "new_in_last_round", "estimated_total")},
        "fit_seconds": fit_s,
    }
    print(
        f"  {n_trials:4d} trials, seed {seed}: fit {found['stable']} stable / {found['saddle']} saddles / "
        f"{found['unstable']} sources (teacher {truth['stable']} / {truth['saddle']} / {truth['unstable']})"
        f"{'  recovered' if row['recovered'] else ''}; fit {fit_s:.0f} s"
        + f"; stable points at {[round(a) for a in fit_angles]}° (teacher {[round(a) for a in teacher_angles]}°)"
    )
    return row


def locate(model: api.Model, dataset):
    """The fit's fixed points at zero input, searched as the analysis does: from its posterior latents
    on ``dataset``, then a grid over the box that holds every fixed point, with deflation."""
    dyn = model.dynamics()
    visited = torch.as_tensor(model.posterior(dataset)["latents"].values.reshape(-1, dyn.latent_dim))
    u0 = np.zeros(dyn.input_dim) if dyn.input_dim else None
    return locate_fixed_points(
        dyn, u0, states=visited[torch.randperm(len(visited), generator=torch.Generator().manual_seed(0))[:512]]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", default=None, help="comma-separated trial counts (default 80,160,320,640,1280)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1; quick 0)")
    parser.add_argument("--epochs", type=int, default=None, help="smc_lowrank epochs (default 80, quick 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="40 and 160 trials, seed 0, 20 epochs")
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = parser.parse_args()
    args.trials = args.trials or ("40,160" if args.quick else "80,160,320,640,1280")
    args.seeds = args.seeds or ("0" if args.quick else "0,1")
    args.epochs = args.epochs or (20 if args.quick else 80)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    rows = []
    print(
        f"torch {torch.__version__}, {args.threads} CPU thread(s); ring teacher, smc_lowrank rank 2 tanh, {args.epochs} epochs"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.trials.split(",")):
            for seed in (int(x) for x in args.seeds.split(",")):
                rows.append(one_run(n, seed, args.epochs, Path(tmp)))
    by_trials: dict[int, list[bool]] = {}
    for r in rows:
        by_trials.setdefault(r["n_trials"], []).append(r["recovered"])
    print(
        "\nrecovered (count and kind of every fixed point), by trials: "
        + ", ".join(f"{n}: {sum(v)}/{len(v)}" for n, v in by_trials.items())
    )
    write_record(args, time.perf_counter() - t_start, runs=rows)


if __name__ == "__main__":
    main()
