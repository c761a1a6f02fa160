"""Bursting neuron: a PLRNN trained by backprop through time with sparse teacher forcing, against EM.

Schmidt et al. 2021 (ICLR), Fig. 3A: D_KL between the true and the generated state-space
distributions of the bursting neuron (the first T = 1,501 standardised samples, 0.5 ms) should fall
with the line-attractor regularisation τ, and free runs should burst. The EM fit (``plrnn_em``,
``bench_plrnn_bursting.py``) reproduces the slow oscillation but never the spikes. Later work on
this data trains the same PLRNN by BPTT with *sparse teacher forcing* (Mikhaeil, Monfared &
Durstewitz 2022, NeurIPS, "On the difficulty of learning chaotic dynamics with RNNs"; Brenner et
al. 2022, ICML): the observations are the first N latents (identity readout), and every τ_TF steps
those latents are replaced by the data, which keeps gradients bounded without hiding the dynamics.

Here: z_t = A ⊙ z_{t−1} + W relu(z_{t−1}) + h (A diagonal, W with zero diagonal), x̂_t = z_{t,1:3};
sequences of ``--seq`` steps from random starts in the 1,501 samples, the first 3 latents set to the
data at the start and every ``--forcing`` steps (or, with ``--gtf α``, moved the fraction α of the way
to the data at every step: generalised teacher forcing, Hess et al. 2023, ICML), loss MSE(x̂, x) over all steps, Adam, with the
rPLRNN regularisation (τ/T)·(Σ (A_i − 1)² + Σ_j W_ij² + h_i²) on the first ``--reg-fraction`` of the
units when ``--tau`` > 0. ``--shallow L`` trains instead the shallow clipped PLRNN of Hess et al. 2023
on the 3 observed dimensions, z' = A ⊙ z + W1 [relu(W2 z + h2) − relu(W2 z)] + h1. Then a free run of 11,000 steps from the first sample (the first 1,000
dropped), scored like the EM benchmark: D_KL (30 bins per dimension) and the power-spectrum errors
(≤ / > 50 Hz). The free run is also counted for spikes: upward crossings of V through 1.5 s.d.

    python benchmarks/bench_plrnn_teacher_forcing.py [--M 30] [--forcing 10] [--steps 3000] [--tau 0] [--clip C]
        [--gtf ALPHA] [--shallow L]
    python benchmarks/bench_plrnn_teacher_forcing.py --quick --json benchmarks/results/plrnn_teacher_forcing.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from bench_plrnn_bursting import DATA, dataset
from timing import skip, write_record

from neurodyn.analysis import metrics


def init_params(M: int, N: int, shallow: int | None, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Trainable parameters: a PLRNN with M latents (A, W, h), or with ``shallow`` = L a shallow PLRNN
    on the N observed dimensions (A, W1 (N×L), W2 (L×N), h1, h2)."""
    f64 = torch.float64
    if shallow is None:
        return {
            "A": 0.5 + 0.4 * torch.rand(M, generator=gen, dtype=f64),
            "W": 0.1 * torch.randn(M, M, generator=gen, dtype=f64) / M**0.5,
            "h": torch.zeros(M, dtype=f64),
        }
    return {
        "A": 0.8 + 0.1 * torch.rand(N, generator=gen, dtype=f64),
        "W1": torch.randn(N, shallow, generator=gen, dtype=f64) / shallow**0.5,
        "W2": torch.randn(shallow, N, generator=gen, dtype=f64) / N**0.5,
        "h1": torch.zeros(N, dtype=f64),
        "h2": 0.5 * torch.randn(shallow, generator=gen, dtype=f64),
    }


def step(z: torch.Tensor, p: dict[str, torch.Tensor], clip: float | None = None) -> torch.Tensor:
    """One step z (B, M) → z'.

    PLRNN: A ⊙ z + φ(z) Wᵀ + h, W's diagonal masked off, φ = relu, or with ``clip`` c the bounded
    relu(z) − relu(z − c) (with |A| < 1 its orbits stay bounded). Shallow PLRNN (Hess et al. 2023):
    A ⊙ z + W1 [relu(W2 z + h2) − relu(W2 z)] + h1, bounded the same way."""
    if "W" not in p:
        u = z @ p["W2"].T
        return p["A"] * z + (torch.relu(u + p["h2"]) - torch.relu(u)) @ p["W1"].T + p["h1"]
    W = p["W"] * (1 - torch.eye(z.shape[-1], dtype=z.dtype))
    phi = torch.relu(z) if clip is None else torch.relu(z) - torch.relu(z - clip)
    return p["A"] * z + phi @ W.T + p["h"]


def train(
    x: torch.Tensor,
    M: int,
    *,
    forcing: int,
    seq: int,
    steps: int,
    batch: int,
    lr: float,
    tau: float,
    reg_fraction: float,
    seed: int,
    gtf: float = 0.0,
    clip: float | None = None,
    shallow: int | None = None,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Teacher-forced BPTT on x (T, N) (see the module docstring); returns the parameters and losses."""
    gen = torch.Generator().manual_seed(seed)
    T, N = x.shape
    params = {k: v.requires_grad_() for k, v in init_params(M, N, shallow, gen).items()}
    width = N if shallow is not None else M
    n_reg = int(round(reg_fraction * M)) if shallow is None else 0
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(0.1) ** (1 / max(steps, 1)))
    losses = []
    for _ in range(steps):
        start = torch.randint(0, T - seq - 1, (batch,), generator=gen)
        window = x[start[:, None] + torch.arange(seq + 1)]  # (B, seq + 1, N)
        z = torch.cat([window[:, 0], torch.zeros(batch, width - N, dtype=x.dtype)], -1)
        predictions = []
        for t in range(1, seq + 1):
            z = step(z, params, clip)
            predictions.append(z[:, :N])
            if gtf > 0:  # generalised teacher forcing: every step, a fraction α of the way to the data
                z = torch.cat([(1 - gtf) * z[:, :N] + gtf * window[:, t], z[:, N:]], -1)
            elif t % forcing == 0:  # sparse teacher forcing: the observed latents take the data's values
                z = torch.cat([window[:, t], z[:, N:]], -1)
        loss = ((torch.stack(predictions, 1) - window[:, 1:]) ** 2).mean()
        if tau > 0 and n_reg:
            A, W, h = params["A"], params["W"] * (1 - torch.eye(M, dtype=x.dtype)), params["h"]
            loss = loss + tau / T * (((A[:n_reg] - 1) ** 2).sum() + (W[:n_reg] ** 2).sum() + (h[:n_reg] ** 2).sum())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 10.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return {k: v.detach() for k, v in params.items()}, losses


def free_run(params: dict[str, torch.Tensor], x0: torch.Tensor, n_steps: int, clip: float | None = None) -> np.ndarray:
    width, N = params["A"].shape[0], x0.shape[0]
    z = torch.cat([x0, torch.zeros(width - N, dtype=x0.dtype)])[None]
    out = np.empty((n_steps, N))
    with torch.no_grad():
        for t in range(n_steps):
            z = step(z, params, clip)
            out[t] = z[0, :N].numpy()
    return out


def spikes(v: np.ndarray, threshold: float = 1.5) -> int:
    return int(np.sum((v[1:] > threshold) & (v[:-1] <= threshold)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--T", type=int, default=1501)
    ap.add_argument("--M", type=int, default=30)
    ap.add_argument("--forcing", type=int, default=10, help="teacher-forcing interval τ_TF in steps")
    ap.add_argument("--seq", type=int, default=200, help="steps per training sequence")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default 3000, quick 300)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--tau", type=float, nargs="+", default=[0.0], help="rPLRNN regularisation τ (one fit each)")
    ap.add_argument("--reg-fraction", type=float, default=0.5)
    ap.add_argument(
        "--gtf",
        type=float,
        default=0.0,
        help="generalised teacher forcing α in (0, 1) every step (Hess et al. 2023) instead",
    )
    ap.add_argument("--clip", type=float, default=None, help="clipped PLRNN: φ(z) = relu(z) − relu(z − CLIP)")
    ap.add_argument(
        "--shallow", type=int, default=None, metavar="L", help="a shallow PLRNN with L hidden units instead"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="300 Adam steps")
    ap.add_argument("--json", metavar="OUT", help="write the run record as JSON")
    args = ap.parse_args()
    args.steps = args.steps or (300 if args.quick else 3000)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    if not args.data.is_file():
        skip(args, f"{args.data}: absent (the bursting-neuron series lives in ../shared/data/dsr)")
    x_np = dataset(args.data, args.T)["data"].values[0].astype(np.float64)
    x = torch.as_tensor(x_np)
    forcing = (
        f"generalised teacher forcing α = {args.gtf:g}"
        if args.gtf
        else f"sparse teacher forcing every {args.forcing} steps"
    )
    print(
        f"bursting neuron T={args.T}, "
        f"{f'shallow PLRNN L={args.shallow}' if args.shallow else ('clipped ' if args.clip else '') + f'PLRNN M={args.M}'}, {forcing}, "
        f"{args.steps} Adam steps of {args.batch} × {args.seq}; data: {spikes(x_np[:, 0])} spikes"
    )
    runs = []
    for tau in args.tau:
        t0 = time.perf_counter()
        params, losses = train(
            x,
            args.M,
            forcing=args.forcing,
            seq=args.seq,
            steps=args.steps,
            batch=args.batch,
            lr=args.lr,
            tau=tau,
            reg_fraction=args.reg_fraction,
            seed=args.seed,
            gtf=args.gtf,
            clip=args.clip,
            shallow=args.shallow,
        )
        seconds = time.perf_counter() - t0
        gen = free_run(params, x[0], 11_000, args.clip)[1000:]
        row = {"tau": tau, "train_seconds": seconds, "final_loss": float(np.mean(losses[-50:]))}
        if not (np.isfinite(gen).all() and np.abs(gen).max() < 1e3):
            row["diverged"] = True
        elif gen.std(0).max() < 1e-9:
            row.update(collapsed_to_a_point=True, d_kl=metrics.state_space_divergence(x_np, gen, n_bins=30))
        else:
            pse = metrics.power_spectrum_error(x_np, gen, 2000.0, split_hz=50.0, smoothing_sigma=2.0)
            row.update(
                d_kl=metrics.state_space_divergence(x_np, gen, n_bins=30),
                pse_low=pse["low"],
                pse_high=pse["high"],
                spikes_per_1000_steps=spikes(gen[:, 0]) * 1000 / len(gen),
                generated_std=gen.std(0).round(3).tolist(),
            )
        runs.append(row)
        print(f"  τ = {tau:g}: {row}")
    print(f"data: {spikes(x_np[:, 0]) * 1000 / len(x_np):.2f} spikes per 1000 steps")
    write_record(args, time.perf_counter() - t_start, runs=runs)


if __name__ == "__main__":
    main()
