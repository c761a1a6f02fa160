"""Mean-field theory vs finite trained reservoirs for the settings of Rivkind & Barak (2017), Fig. 1.

For each panel — A: tanh, g = 1.5; B: tanh, g = 0.5; C: ReLU max(0, x − 0.1), g = 1.1 (all A = 1);
D: tanh, g = 1.0, targets {0.5, 1.0, 1.5} — it prints

* the predicted closed-loop pole(s) (Eq. 14; for D the M = 3 poles of Eqs. 16–18 around each
  target) against the rightmost eigenvalue of the finite-N Jacobian (Eq. 4) outside the bulk disk
  |λ + 1| ≤ ρ, averaged over seeds (``in bulk`` when no eigenvalue lies outside it, as the theory
  predicts for Fig. 1A);
* the convergence of the finite-N open-loop gain G_OL(ω) (Eqs. 5–6) to the theory (Eq. 13 / 17):
  max_ω |G_N(ω) − G_MFT(ω)| / max_ω |G_MFT(ω)| over ω ∈ [−3, 3].

Feedback weights are U(−1, 1) (the distribution that reproduces Figs. 1D and 2).

    python benchmarks/bench_reservoir_mft.py [--quick] [--sizes 250 500 ...] [--seeds K]
                                             [--threads N] [--device numpy|cpu|cuda] [--json OUT]
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N ∈ {250, 500, 1000}, 2 seeds (< 1 min)")
    parser.add_argument("--sizes", type=int, nargs="+", help="network sizes (default 250 500 1000 2000)")
    parser.add_argument("--seeds", type=int, help="seeds per size (default 3, quick 2)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS/torch CPU threads (default 1)")
    parser.add_argument(
        "--device",
        default=None,
        help="eigenvalues: numpy (default), or a torch device (cpu, cuda) for torch.linalg.eigvals",
    )
    parser.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    return parser.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:  # BLAS threads must be fixed before numpy loads
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402 — after the thread settings above
from timing import write_record  # noqa: E402

from neurodyn.studies.reservoir_theory.compare import compare_setting  # noqa: E402

PANELS = (
    ("1A", "tanh", 1.5, (1.0,)),
    ("1B", "tanh", 0.5, (1.0,)),
    ("1C", "relu", 1.1, (1.0,)),
    ("1D", "tanh", 1.0, (0.5, 1.0, 1.5)),
)


def fmt(z: complex) -> str:
    return f"{z.real:+.4f}" if abs(z.imag) < 1e-9 else f"{z.real:+.4f}{z.imag:+.4f}i"


def run_panel(label: str, phi: str, g: float, targets: tuple[float, ...], sizes, seeds, device) -> dict:
    t0 = time.perf_counter()
    result = compare_setting(phi, g, targets, sizes=sizes, seeds=seeds, device=device)
    per_net = (time.perf_counter() - t0) / (seeds * len(sizes))
    head = "; ".join(
        f"A={s['target']:g}: rho {s['rho']:.3f}, poles [{', '.join(fmt(p) for p in s['poles'])}], "
        f"{'stable' if s['stable'] else 'UNSTABLE'} (Nyquist: "
        f"{'stable' if s['nyquist_stable'] else 'UNSTABLE'})"
        for s in result["theory"]
    )
    print(f"Fig. {label}: phi = {phi}{'(x - 0.1)' if phi == 'relu' else ''}, g = {g}, targets = {list(targets)}")
    print(f"  MFT: {head}")
    print(
        f"  {'N':>5} {'target':>6} {'predicted (MFT)':>18} {'measured (mean ± sd over seeds)':>34} "
        f"{'#out':>4} {'G_OL max rel err':>16} {'s/net':>6}"
    )
    theory = {s["target"]: s for s in result["theory"]}
    for row in result["finite"]:
        th = theory[row["target"]]
        pred = fmt(th["pole"]) + ("" if th["outside_bulk"] else " (in bulk)")
        if row["outliers"]:
            vals = np.array(row["outliers"])
            im = np.abs(vals.imag)
            meas = f"{vals.real.mean():+.4f} ± {vals.real.std():.4f}"
            if np.any(im > 1e-9):
                meas += f", |im| {im.mean():.4f} ± {im.std():.4f}"
        else:
            meas = "in bulk (no outlier)"
        print(
            f"  {row['n_units']:>5} {row['target']:>6g} {pred:>18} {meas:>34} {row['n_outliers']:>2}/{seeds} "
            f"{row['gain_error_mean']:>10.4f} ± {row['gain_error_sd']:.3f} {per_net:>5.1f}"
        )
    print()
    return {"seconds_per_network": per_net, **result}


def main(args: argparse.Namespace) -> None:
    if args.device not in (None, "numpy"):
        import torch

        torch.set_num_threads(args.threads)
    sizes = args.sizes or ((250, 500, 1000) if args.quick else (250, 500, 1000, 2000))
    seeds = args.seeds or (2 if args.quick else 3)
    print(
        f"numpy {np.__version__}, {args.threads} BLAS thread(s), {os.cpu_count()} cores, eigenvalues on "
        f"{args.device or 'numpy'}; sizes {list(sizes)}, {seeds} seeds; w_FB ~ U(-1, 1)\n"
    )
    t0 = time.perf_counter()
    panels = {panel[0]: run_panel(*panel, sizes=sizes, seeds=seeds, device=args.device) for panel in PANELS}
    print(f"total {time.perf_counter() - t0:.1f} s")
    write_record(args, time.perf_counter() - t0, panels=panels)


if __name__ == "__main__":
    main(ARGS)
    sys.exit(0)
