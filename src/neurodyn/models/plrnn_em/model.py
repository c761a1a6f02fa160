"""Piecewise-linear RNN fitted by EM, with the rPLRNN line-attractor regulariser (family ``plrnn_em``).

Model (Koppe et al. 2019, PLOS Comput Biol; Schmidt et al. 2021, ICLR, Eqs. 1, 2 and 4)::

    z_t = A z_{t-1} + W max(0, z_{t-1}) + C s_t + h + ε_t,   ε_t ~ N(0, Σ)
    x_t = B max(0, z_t) + b + η_t,                           η_t ~ N(0, Γ)   (or B z_t + b)

Fitting follows the annealing protocol of Koppe et al. 2019 (:func:`~.plrnn_core.annealing_stages`):
principal-component starting values, an LDS warm start, PLRNN EM with Σ = I, then Σ shrunk to
0.1, 0.01, 0.001 · I with B held fixed; per stage the parameters with the best Laplace
log-evidence are kept. Several restarts run as one batch. The E-step is a Laplace approximation
around the posterior mode found by active-set iteration with block-tridiagonal solves; the
M-step is closed form (:mod:`.plrnn_core`). Observations are Gaussian: the family models
continuous signals (EEG, LFP, dynamical-systems benchmarks), not spike counts.
"""

from __future__ import annotations

import logging
import math
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.errors import ConfigError, DatasetContractError, InputFileError
from neurodyn.models.base import (
    Dynamics,
    FittedModel,
    checked_progress,
    checkpoint_fingerprint,
    latent_dataset,
    load_checkpoint,
    restore_into,
    resume_record,
    save_checkpoint,
    training_curves_from,
)
from neurodyn.models.plrnn_em.core import (
    EMState,
    Observations,
    PLRNNParams,
    annealing_stages,
    expectations,
    init_params,
    m_step,
    plrnn_step,
    posterior_mode,
    run_em,
)
from neurodyn.models.plrnn_em.relu_moments import relu_moments
from neurodyn.models.structure import PLRNNMap
from neurodyn.options import Options, option
from neurodyn.progress import report_progress

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
EVAL_ONLY = ("checkpoint_every", "sample_noise")
PARAM_NAMES = ("A", "W", "h", "C", "B", "b", "gamma", "sigma", "mu0")


@dataclass(frozen=True)
class PLRNNEMOptions(Options):
    """Options of the ``plrnn_em`` family (the only place they are defined)."""

    latent_dim: int = option(10, "number of latent PLRNN units M", ge=1)
    tau: float = option(
        0.0,
        "line-attractor regularisation strength τ per time step (Schmidt et al. 2021, Eq. 4); 0: plain PLRNN",
        ge=0,
    )
    reg_fraction: float = option(
        0.5, "fraction of the latent units pulled towards a line attractor (M_reg / M)", ge=0, le=1
    )
    tau_scale: str = option(
        "loss",
        "how τ enters the M-step: loss (added to the negative log-likelihood as in the published "
        "rPLRNN code, so its pull fades as the annealing shrinks Σ) or gram (the same pull at every Σ)",
        choices=("loss", "gram"),
    )
    restarts: int = option(4, "EM runs from different random starts fitted together; the best evidence is kept", ge=1)
    em_iters: list[int] = option(
        [20, 30, 15, 15, 15],
        "EM iterations per annealing stage: linear warm start, then one entry per value of sigmas",
        ge=0,
    )
    sigmas: list[float] = option(
        [1.0, 0.1, 0.01, 0.001],
        "latent noise variances Σ = σ·I of the annealing stages, from the first to the last",
        gt=0,
        min_length=1,
    )
    observation: str = option(
        "relu",
        "observation model: relu (x = B max(0, z) + b) or linear (x = B z + b)",
        choices=("relu", "linear"),
    )
    learn_inputs: bool = option(True, "learn the weights C of the recorded external inputs")
    ridge: float = option(
        1e-6, "small ridge penalty keeping the M-step regressions well posed (relative to their mean variance)", ge=0
    )
    max_mode_iters: int = option(
        20, "active-set iterations per E-step to find each trial's most likely latent path", ge=1
    )
    polish_iters: int = option(
        0, "L-BFGS iterations refining the latent path when the active-set search stalls (0: off)", ge=0
    )
    checkpoint_every: int = option(5, "EM iterations between checkpoints of a long fit", ge=1)
    sample_noise: bool = option(True, "generated trials include the latent noise Σ (false: noise-free runs)")

    def check(self, where: str) -> None:
        for name in ("tau", "ridge"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{where}.{name}", f"must be a finite number, got {getattr(self, name)!r}")
        for i, s in enumerate(self.sigmas):
            if not math.isfinite(s):
                raise ConfigError(f"{where}.sigmas[{i}]", f"must be a finite number, got {s!r}")
        if len(self.em_iters) != len(self.sigmas) + 1:
            raise ConfigError(
                f"{where}.em_iters",
                f"must list {len(self.sigmas) + 1} iteration counts >= 0 (linear warm start, then one per sigma), "
                f"got {len(self.em_iters)}",
            )


def _params_from(tensors: dict[str, torch.Tensor], prefix: str = "") -> PLRNNParams:
    return PLRNNParams(**{k: tensors[prefix + k] for k in PARAM_NAMES})


def _state_tensors(state: EMState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stage": state.stage,
        "iteration": state.iteration,
        "best_score": state.best_score,
        "frozen": state.frozen,
        "n_backoffs": state.n_backoffs,
        "history": state.history,
    }
    out.update({f"params.{k}": v for k, v in state.params.as_dict().items()})
    out.update({f"best.{k}": v for k, v in state.best.as_dict().items()})
    if state.z is not None:
        out["z"] = state.z
    return out


def _state_from(saved: dict[str, Any]) -> EMState:
    return EMState(
        stage=int(saved["stage"]),
        iteration=int(saved["iteration"]),
        params=_params_from(saved, "params."),
        best=_params_from(saved, "best."),
        best_score=saved["best_score"],
        z=saved.get("z"),
        frozen=saved["frozen"],
        n_backoffs=saved["n_backoffs"],
        history=list(saved["history"]),
    )


def _checked_state(path: Path, saved: dict[str, Any], params: PLRNNParams, stages) -> EMState:
    """The EM state of a checkpoint, refused (InputFileError naming it) unless its stage and
    iteration lie within the configured annealing ``stages`` and its parameters have the shapes
    of this fit's (``params``, the initial ones)."""
    stage = checked_progress(path, saved["stage"], len(stages), "stage")
    iters = stages[stage].iters if stage < len(stages) else 0
    checked_progress(path, saved["iteration"], iters, "iteration")
    state: list[EMState] = []
    restore_into(path, lambda: state.append(_state_from(saved)))
    expected = params.as_dict()
    for prefix, got in (("params.", state[0].params), ("best.", state[0].best)):
        for name, value in got.as_dict().items():
            if not isinstance(value, torch.Tensor) or value.shape != expected[name].shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise InputFileError(
                    path,
                    f"does not fit this model: '{prefix}{name}' is {shape}, expected {tuple(expected[name].shape)}",
                )
    return state[0]


class PLRNNEM(FittedModel):
    """PLRNN / rPLRNN state-space model fitted by annealed EM (see module docstring)."""

    family = "plrnn_em"
    Options = PLRNNEMOptions
    data_kinds = ("continuous",)
    quick_options = {"latent_dim": 3, "restarts": 2, "em_iters": [3, 4, 2, 2, 2], "tau": 0.5}

    # --- data ---
    def _observations(self, dataset: xr.Dataset, *, heldin_only: bool = True) -> Observations:
        self.check_channels(dataset)
        return observations_of(
            dataset,
            self.meta["heldin_index"] if heldin_only else None,
            self.meta["config"]["observation"] == "relu",
            self.device,
        )

    def params(self) -> PLRNNParams:
        """The fitted parameters with a leading restart dimension of 1."""
        return PLRNNParams(**{k: self.tensors[k][None] for k in PARAM_NAMES})

    # --- fitting ---
    @classmethod
    def fit(
        cls,
        dataset: xr.Dataset,
        config: dict[str, Any],
        device: torch.device,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> PLRNNEM:
        started = _time.perf_counter()
        cfg = cls.resolve_config(config)
        seed = cls.fit_settings(config, f"models.{cls.family}").seed
        kind = dataset["data"].attrs.get("kind")
        if kind == "counts":
            raise DatasetContractError(
                "plrnn_em models continuous signals with Gaussian observations; this dataset "
                "holds spike counts (use smc_lowrank or lds, or bin a continuous recording)"
            )
        heldin_index = np.flatnonzero(~dataset["heldout"].values.astype(bool))
        train = np.asarray(dataset["split"].values).astype(str) == "train"
        if not train.any():
            raise DatasetContractError("plrnn_em: the dataset has no training trials")
        M = int(cfg["latent_dim"])
        meta = {
            "config": cfg,
            "kind": kind,
            "bin_size_s": float(dataset.attrs["bin_size_s"]),
            "channels": [str(c) for c in dataset["channel"].values.tolist()],
            "heldin_index": heldin_index.tolist(),
            "latent_dim": M,
            "n_reg": round(cfg["reg_fraction"] * M),
            "inputs": [str(v) for v in dataset["input"].values] if "inputs" in dataset else [],
            "n_train_trials": int(train.sum()),
        }
        model = cls({}, meta)
        train_ds = dataset.isel(trial=train)
        obs = model_obs = observations_of(train_ds, heldin_index, cfg["observation"] == "relu", device)
        R = int(cfg["restarts"])
        params = init_params(obs.x, obs.mask, M, obs.s.shape[-1], R, seed=seed)
        tau = torch.full((R,), float(cfg["tau"]), dtype=torch.float64, device=device)
        stages = annealing_stages(tuple(cfg["em_iters"]), tuple(float(s) for s in cfg["sigmas"]))

        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
        fingerprint = checkpoint_fingerprint(cfg, meta, seed, ignore=EVAL_ONLY)
        state = None
        resumes: list[dict[str, Any]] = []
        if resume and ckpt_path is not None and ckpt_path.is_file():
            saved = load_checkpoint(ckpt_path, device)
            if saved["fingerprint"] != fingerprint:
                log.warning("plrnn_em: checkpoint %s is from another configuration; starting afresh", ckpt_path)
            else:
                state = _checked_state(ckpt_path, saved, params, stages)
                done_before = sum(s.iters for s in stages[: state.stage]) + state.iteration
                resumes = resume_record(saved, ckpt_path, done_before, "EM iteration")
                log.info("plrnn_em: resuming at stage %d, iteration %d", state.stage, state.iteration)

        def on_iteration(st: EMState) -> None:
            if ckpt_path is not None and (st.iteration % int(cfg["checkpoint_every"]) == 0):
                save_checkpoint(ckpt_path, {**_state_tensors(st), "fingerprint": fingerprint, "resumes": resumes})

        # EM iterations done across the annealing stages (a resumed fit starts where its checkpoint stopped)
        done = [0 if state is None else sum(s.iters for s in stages[: state.stage]) + state.iteration]

        def report(rec: dict) -> None:
            done[0] += 1
            report_progress(
                "plrnn_em",
                done[0],
                sum(stage.iters for stage in stages),
                {
                    "stage": rec["stage"],
                    "best log p(X,Z*)": max(rec["log_joint"]),
                    "best Laplace log-evidence": max(rec["laplace_log_evidence"]),
                    "mode iters": float(np.mean(rec["mode_iters"])),
                },
                unit="EM iteration",
            )

        state = run_em(
            params,
            model_obs,
            stages,
            tau=tau,
            n_reg=meta["n_reg"],
            tau_scale=str(cfg["tau_scale"]),
            learn_inputs=bool(cfg["learn_inputs"]),
            ridge=float(cfg["ridge"]),
            max_mode_iters=int(cfg["max_mode_iters"]),
            polish_iters=int(cfg["polish_iters"]),
            state=state,
            on_iteration=on_iteration,
            log=report,
        )
        final = state.params
        post = posterior_mode(final, obs, max_iters=int(cfg["max_mode_iters"]), polish_iters=int(cfg["polish_iters"]))
        evidence = post.laplace_log_evidence()
        evidence = torch.where(
            final.finite() & torch.isfinite(evidence), evidence, torch.full_like(evidence, -float("inf"))
        )
        best = int(torch.argmax(evidence))
        if not torch.isfinite(evidence[best]):
            raise DatasetContractError("plrnn_em: every restart failed numerically (see the log)")
        chosen = final.select(best)
        # read-out of held-out channels: regression on E[φ(z)] under the held-in posterior
        if len(heldin_index) < dataset.sizes["channel"]:
            full_obs = observations_of(train_ds, None, cfg["observation"] == "relu", device)
            stats = expectations(post.select(best), full_obs)
            fitted = m_step(
                chosen, stats, tau=tau[:1], n_reg=meta["n_reg"], learn_inputs=False, ridge=float(cfg["ridge"])
            )
            heldout = torch.as_tensor(~np.isin(np.arange(dataset.sizes["channel"]), heldin_index), device=device)
            chosen = PLRNNParams(
                **{
                    **chosen.as_dict(),
                    "B": torch.where(heldout[None, :, None], fitted.B, chosen.B),
                    "b": torch.where(heldout[None], fitted.b, chosen.b),
                    "gamma": torch.where(heldout[None], fitted.gamma, chosen.gamma),
                }
            )
        model.tensors = {k: v[0].clone() for k, v in chosen.as_dict().items()}
        meta["fit"] = {
            "best_restart": best,
            "restart_laplace_log_evidence": evidence.tolist(),
            "n_backoffs": state.n_backoffs.tolist(),
            "history": [{k: (v[best] if isinstance(v, list) else v) for k, v in rec.items()} for rec in state.history],
            "seconds": _time.perf_counter() - started,
            "resumes": resumes,
        }
        log.info(
            "plrnn_em: restart %d chosen (Laplace log-evidence %.2f); %d numerical back-offs; %.1f s",
            best,
            float(evidence[best]),
            int(state.n_backoffs.sum()),
            meta["fit"]["seconds"],
        )
        return model

    def training_curves(self) -> dict[str, Any]:
        """Per EM iteration (counted across the annealing stages) of the restart that was kept: the
        complete-data log-likelihood log p(X, Z*) at the posterior mode and the Laplace
        log-evidence."""
        history = (self.meta.get("fit") or {}).get("history") or []
        rows = [[i + 1, rec.get("log_joint"), rec.get("laplace_log_evidence")] for i, rec in enumerate(history)]
        return training_curves_from(
            "EM iteration",
            rows,
            {
                1: ("log p(X, Z*) (nats)", True, "complete-data log-likelihood at the posterior mode Z*"),
                2: ("Laplace log-evidence (nats)", True, "log p(X) by the Laplace approximation at the mode"),
            },
        )

    # --- interface ---
    def posterior(self, dataset: xr.Dataset) -> xr.Dataset:
        obs = self._observations(dataset)
        p = self.params()
        cfg = self.meta["config"]
        post = posterior_mode(
            p, obs, max_iters=int(cfg["max_mode_iters"]), polish_iters=int(cfg.get("polish_iters", 0))
        )
        if self.meta["config"]["observation"] == "relu":
            g = relu_moments(post.z, post.cov_diag).e_phi
        else:
            g = post.z
        pred = torch.einsum("rcm,rntm->rntc", p.B, g) + p.b[:, None, None]
        return latent_dataset(
            post.z[0],
            pred[0],
            dataset["trial"].values,
            dataset["time"].values,
            dataset["channel"].values,
            self.meta["kind"],
        )

    def sample(self, n_trials: int, n_steps: int, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        t = self.tensors
        dev, dt = self.device, t["A"].dtype
        gen = torch.Generator(device=dev).manual_seed(seed)
        K = t["C"].shape[-1]
        if K and inputs is None:
            inputs = torch.zeros(n_trials, n_steps, K, dtype=dt, device=dev)
        if inputs is not None:
            inputs = torch.as_tensor(inputs, dtype=dt, device=dev)
            if inputs.shape != (n_trials, n_steps, K):
                raise ConfigError("inputs", f"expected shape {(n_trials, n_steps, K)}, got {tuple(inputs.shape)}")
        noise_sd = t["sigma"].sqrt() if self.meta["config"]["sample_noise"] else torch.zeros_like(t["sigma"])
        eps = torch.randn(n_trials, n_steps, t["A"].shape[0], generator=gen, dtype=dt, device=dev) * noise_sd
        z = torch.empty(n_trials, n_steps, t["A"].shape[0], dtype=dt, device=dev)
        z[:, 0] = t["mu0"] + eps[:, 0]
        step = self.dynamics().step
        for k in range(1, n_steps):
            z[:, k] = step(z[:, k - 1], None if inputs is None else inputs[:, k]) + eps[:, k]
        g = torch.relu(z) if self.meta["config"]["observation"] == "relu" else z
        pred = g @ t["B"].T + t["b"]
        data = pred + torch.randn(pred.shape, generator=gen, dtype=dt, device=dev) * t["gamma"].sqrt()
        return latent_dataset(
            z,
            pred,
            np.arange(n_trials),
            np.arange(n_steps) * self.meta["bin_size_s"],
            np.asarray(self.meta["channels"]),
            self.meta["kind"],
            data=data,
        )

    def dynamics(self) -> Dynamics:
        t = self.tensors
        p = self.params()

        def step(z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
            s = None if u is None or t["C"].shape[-1] == 0 else u.to(z)[None]
            return plrnn_step(p, z.to(t["A"].dtype)[None], s)[0]

        return Dynamics(
            latent_dim=t["A"].shape[0],
            input_dim=t["C"].shape[-1],
            dt=self.meta["bin_size_s"],
            step=step,
            structure=PLRNNMap(A=t["A"], W=t["W"], h=t["h"], C=t["C"]),
        )


def observations_of(dataset: xr.Dataset, heldin_index, obs_phi: bool, device: torch.device) -> Observations:
    """Data, mask and inputs of a dataset as float64 tensors; channels outside ``heldin_index``
    (when given) are masked out, as are NaN bins."""
    x = torch.as_tensor(np.asarray(dataset["data"].values, dtype=np.float64), device=device)
    mask = torch.as_tensor(
        np.asarray(dataset["mask"].values, dtype=np.float64) if "mask" in dataset else np.ones(x.shape), device=device
    )
    mask = mask * torch.isfinite(x)
    if heldin_index is not None:
        keep = torch.as_tensor(np.isin(np.arange(x.shape[-1]), heldin_index), dtype=x.dtype, device=device)
        mask = mask * keep
    x = torch.nan_to_num(x) * mask
    s = (
        torch.as_tensor(np.asarray(dataset["inputs"].values, dtype=np.float64), device=device)
        if "inputs" in dataset
        else torch.zeros(*x.shape[:2], 0, dtype=x.dtype, device=device)
    )
    return Observations(x=x, mask=mask, s=s, obs_phi=obs_phi)
