"""LFADS, optionally with a JSLDS co-trained generator (family ``lfads_jslds``).

LFADS (Sussillo et al. 2016, arXiv:1608.06315; Pandarinath et al. 2018, Nature Methods): a
sequential variational auto-encoder of spike counts y (trial, time, channel)::

    E_ic = biGRU(ỹ)                         g0 ~ q(g0 | ỹ) = N(μ(E_ic), σ²(E_ic))
    E_ci = biGRU(ỹ)  (controller input)     prior p(g0) = N(μ_p, κ I), μ_p learned
    c_t = GRU_con(c_{t−1}, [E_ci,t, f_{t−1}])     u_t ~ q(u_t | c_t) = N(μ(c_t), σ²(c_t))
    h_0 = W_ic g0;   h_t = clip(GRU_gen(h_{t−1}, [u_t, s_t]))     s_t: recorded inputs
    f_t = W_f h_t   (rows of W_f of unit norm)     log r_t = C f_t + d;   y_t ~ Poisson(r_t)

The inferred inputs u have an AR(1) prior per dimension (time constant τ and variance σ²
learned): u_1 ~ N(0, σ²), u_t | u_{t−1} ~ N(α u_{t−1}, σ²(1 − α²)), α = exp(−1/τ). The
controller is optional (``co_dim: 0``: an autonomous generator driven by the recorded inputs).
The encoders only see the held-in channels; the held-out channels are predicted from the
factors (co-smoothing) and enter the training loss, never the encoders.

Training regularisers (Keshtkaran & Pandarinath 2019, NeurIPS): **coordinated dropout** —
each batch hides a random subset of the held-in entries from the encoders (the rest are scaled
by 1/keep) and the held-in reconstruction loss is taken on the hidden entries only, so the
model cannot pass counts straight through; **sample validation** — validation trials hide a
fixed random subset of their held-in entries and are scored on those (plus the held-out
channels), with the full KL, on a posterior sample. Early stopping keeps the parameters of the
best validation loss. KL and L2 weights ramp up linearly.

JSLDS co-training (Smith, Linderman & Sussillo 2021, NeurIPS, Fig. A.4): with ``jslds: true``
the generator F(h, u) runs beside a Jacobian switching linear system that shares g0, the
inferred inputs and the readouts: a_0 = h_0, e*_t = E(a_{t−1}),
a_t = e*_t + J_h(e*_t, u*)(a_{t−1} − e*_t) + J_u(e*_t, u*)(u_t − u*) (one Jacobian-vector
product, :func:`neurodyn.models.lfads_jslds.jslds.jslds_step`), u* = 0. The loss adds
λ_JSLDS·NLL(rates from a) + λ_e·mean‖F(e*, u*) − e*‖² + λ_a·mean‖h − a‖², with λ_RNN on the
nonlinear generator's NLL.

Normalisation (what the λ mean here): the reconstruction terms are means of the Poisson
negative log-likelihood over the scored (trial, time, channel) entries; the KL terms are per
trial divided by time × channels, then averaged over trials (the usual per-trial sums scaled
by one constant, so reconstruction and KL keep their usual balance); R_e and R_a are means
over trial · time · generator unit; the L2 terms are ½·mean(w²) over each penalised matrix.
"""

from __future__ import annotations

import copy
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
from torch import nn

from neurodyn.device import seed_everything
from neurodyn.errors import ConfigError, DatasetContractError, NeurodynError
from neurodyn.metric_spec import MetricSpec
from neurodyn.models.base import (
    Dynamics,
    FittedModel,
    FixedPointRegion,
    checked_progress,
    checkpoint_fingerprint,
    latent_dataset,
    pad_history,
    restore_into,
    resume_training,
    save_checkpoint,
    training_curves_from,
)
from neurodyn.models.lfads_jslds.cells import GRUCell
from neurodyn.models.lfads_jslds.jslds import ExpansionNetwork, jslds_step
from neurodyn.options import Options, option
from neurodyn.progress import report_progress

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
# epoch, train loss, valid loss, R_a (mean ‖h − a‖²), R_e (mean ‖F(e*) − e*‖²), learning rate at the epoch's end
HISTORY_COLUMNS = 6
EVAL_ONLY = ("checkpoint_every", "posterior_samples")
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0
MAX_LOG_RATE = 20.0

# options that must be finite (Options.parse rejects NaN, not ±inf)
_FINITE = (
    "gen_clip",
    "ic_prior_var",
    "co_prior_tau",
    "co_prior_var",
    "kl_ic_scale",
    "kl_co_scale",
    "l2_gen_scale",
    "l2_con_scale",
    "lambda_rnn",
    "lambda_jslds",
    "lambda_e",
    "lambda_a",
    "lr",
    "lr_end",
    "grad_clip",
)


@dataclass(frozen=True)
class LFADSJSLDSOptions(Options):
    """Options of the ``lfads_jslds`` family (the only place they are defined)."""

    gen_dim: int = option(64, "units of the generator RNN, whose state is the model's latent state", ge=1)
    ic_enc_dim: int = option(64, "units per direction of the encoder that infers each trial's initial condition", ge=1)
    ic_dim: int = option(32, "dimensions of the inferred initial condition g0", ge=1)
    ci_enc_dim: int = option(32, "units per direction of the encoder that feeds the controller", ge=1)
    con_dim: int = option(32, "units of the controller RNN that infers inputs (used when co_dim > 0)", ge=1)
    co_dim: int = option(0, "inferred-input dimensions; 0: no controller (autonomous generator)", ge=0)
    factors_dim: int = option(8, "low-dimensional factors from which the firing rates are read out", ge=1)
    gen_clip: float = option(5.0, "generator state clipped to ±gen_clip to keep training stable", gt=0)
    keep_prob: float = option(
        0.98, "fraction kept by ordinary dropout on encoder inputs and generator states (1: off)", gt=0, le=1
    )
    cd_keep: float = option(
        0.7, "coordinated dropout: fraction of held-in entries the encoders see per batch (1: off)", gt=0, le=1
    )
    valid_drop: float = option(
        0.2, "sample validation: fraction of held-in entries hidden and scored in validation trials", gt=0, lt=1
    )
    ic_prior_var: float = option(0.1, "variance of the prior on the initial condition g0", gt=0)
    co_prior_tau: float = option(10.0, "starting time constant of the inferred inputs' AR(1) prior, in bins", gt=0)
    co_prior_var: float = option(0.1, "starting variance of the inferred inputs' AR(1) prior", gt=0)
    kl_ic_scale: float = option(1.0, "weight of the initial-condition KL term in the loss", ge=0)
    kl_co_scale: float = option(1.0, "weight of the inferred-input KL term in the loss", ge=0)
    kl_ramp_epochs: int = option(50, "epochs over which the KL weight ramps linearly from 0 to 1", ge=0)
    l2_gen_scale: float = option(0.0, "L2 penalty on the generator's weights", ge=0)
    l2_con_scale: float = option(0.0, "L2 penalty on the controller's weights", ge=0)
    l2_ramp_epochs: int = option(50, "epochs over which the L2 weight ramps linearly from 0 to 1", ge=0)
    jslds: bool = option(True, "co-train a Jacobian switching linear dynamical system (JSLDS) beside the generator")
    lambda_rnn: float = option(1.0, "weight of the generator's reconstruction loss (λ_RNN)", ge=0)
    lambda_jslds: float = option(1.0, "weight of the JSLDS reconstruction loss (λ_JSLDS)", ge=0)
    lambda_e: float = option(
        100.0, "weight pulling the JSLDS expansion points towards fixed points of the generator (λ_e)", ge=0
    )
    lambda_a: float = option(20.0, "weight pulling the JSLDS states towards the generator states (λ_a)", ge=0)
    epochs: int = option(300, "maximum training epochs (passes over the training trials)", ge=1)
    batch_size: int = option(32, "trials per minibatch", ge=1)
    lr: float = option(5e-3, "initial Adam learning rate", gt=0)
    lr_end: float = option(1e-4, "learning rate reached at the last epoch (exponential decay)", gt=0)
    grad_clip: float = option(200.0, "largest gradient norm per step; larger gradients are scaled down", gt=0)
    patience: int = option(60, "early stopping: epochs without a better validation loss after the ramps end", ge=1)
    posterior_samples: int = option(16, "posterior samples averaged per trial for latents and rates", ge=1)
    checkpoint_every: int = option(10, "epochs between checkpoints of a long fit", ge=1)
    dtype: str = option("float32", "floating-point precision of training", choices=("float32", "float64"))

    def check(self, where: str) -> None:
        for name in _FINITE:
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ConfigError(f"{where}.{name}", f"must be a finite number, got {value!r}")


def gaussian_kl(
    mean: torch.Tensor, logvar: torch.Tensor, prior_mean: torch.Tensor, prior_logvar: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean, e^logvar) ‖ N(prior_mean, e^prior_logvar)) summed over the last axis.

    mean, logvar: (B, D); prior_*: broadcastable to (B, D) → (B,).
    """
    ratio = torch.exp(logvar - prior_logvar)
    return 0.5 * (ratio + (mean - prior_mean) ** 2 * torch.exp(-prior_logvar) - 1.0 - logvar + prior_logvar).sum(-1)


def ar1_log_density(u: torch.Tensor, log_tau: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """log p(u_{1:T}) under independent stationary AR(1) processes per dimension.

    u: (B, T, D); log_tau, log_var: (D,) (time constant in steps, stationary variance) → (B,).
    u_1 ~ N(0, σ²); u_t | u_{t−1} ~ N(α u_{t−1}, σ²(1 − α²)), α = exp(−1/τ).
    """
    alpha = torch.exp(-torch.exp(-log_tau))
    var0 = torch.exp(log_var)
    var_t = var0 * (1.0 - alpha**2)
    first = -0.5 * (math.log(2 * math.pi) + log_var + u[:, 0] ** 2 / var0)
    resid = u[:, 1:] - alpha * u[:, :-1]
    rest = -0.5 * (math.log(2 * math.pi) + torch.log(var_t) + resid**2 / var_t)
    return first.sum(-1) + rest.sum((1, 2))


def diag_gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, diag e^logvar) summed over all axes but the first. (B, ...) → (B,)."""
    terms = -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))
    return terms.reshape(terms.shape[0], -1).sum(-1)


class LFADSNet(nn.Module):
    """The LFADS(-JSLDS) network; see the module docstring for the equations."""

    def __init__(self, n_heldin: int, n_channels: int, n_ext: int, cfg: dict[str, Any], log_mean_rate: torch.Tensor):
        super().__init__()
        G, F = int(cfg["gen_dim"]), int(cfg["factors_dim"])
        self.co_dim, self.n_ext, self.use_jslds = int(cfg["co_dim"]), n_ext, bool(cfg["jslds"])
        self.dropout = nn.Dropout(1.0 - float(cfg["keep_prob"]))
        self.ic_encoder = nn.GRU(n_heldin, int(cfg["ic_enc_dim"]), batch_first=True, bidirectional=True)
        self.ic_posterior = nn.Linear(2 * int(cfg["ic_enc_dim"]), 2 * int(cfg["ic_dim"]))
        self.ic_prior_mean = nn.Parameter(torch.zeros(int(cfg["ic_dim"])))
        self.register_buffer("ic_prior_logvar", torch.full((int(cfg["ic_dim"]),), math.log(cfg["ic_prior_var"])))
        self.ic_to_gen = nn.Linear(int(cfg["ic_dim"]), G)
        if self.co_dim:
            C = int(cfg["con_dim"])
            self.ci_encoder = nn.GRU(n_heldin, int(cfg["ci_enc_dim"]), batch_first=True, bidirectional=True)
            self.controller = nn.GRUCell(2 * int(cfg["ci_enc_dim"]) + F, C)
            self.con_h0 = nn.Parameter(torch.zeros(C))
            self.co_posterior = nn.Linear(C, 2 * self.co_dim)
            self.co_prior_log_tau = nn.Parameter(torch.full((self.co_dim,), math.log(cfg["co_prior_tau"])))
            self.co_prior_log_var = nn.Parameter(torch.full((self.co_dim,), math.log(cfg["co_prior_var"])))
        self.gen_input_dim = self.co_dim + n_ext
        # an autonomous generator gets one input fixed at zero (the cell needs an input width)
        self.generator = GRUCell(max(1, self.gen_input_dim), G, clip=float(cfg["gen_clip"]))
        self.factors = nn.Linear(G, F, bias=False)
        self.readout = nn.Linear(F, n_channels)
        with torch.no_grad():
            self.readout.weight.mul_(0.1)
            self.readout.bias.copy_(log_mean_rate)
        self.expansion = ExpansionNetwork(G) if self.use_jslds else None

    # --- pieces ---
    def factor_weights(self) -> torch.Tensor:
        """W_f with unit-norm rows (F, G): factors cannot grow by scaling the readout down."""
        w = self.factors.weight
        return w / w.norm(dim=1, keepdim=True).clamp(min=1e-8)

    def log_rates(self, states: torch.Tensor) -> torch.Tensor:
        """Generator (or JSLDS) states (..., G) → log rates (..., channel), from the factors."""
        return self.readout(states @ self.factor_weights().T).clamp(max=MAX_LOG_RATE)

    def gen_step(self, h: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One generator step F(h, u): h (B, G), u (B, max(1, co_dim + n_ext)) → (B, G)."""
        return self.generator(h, u)

    def ic_posterior_params(self, y_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder input (B, T, H) → mean, logvar of q(g0) (B, ic_dim)."""
        _, h_n = self.ic_encoder(self.dropout(y_in))
        enc = self.dropout(torch.cat([h_n[0], h_n[1]], dim=-1))
        mean, logvar = self.ic_posterior(enc).chunk(2, dim=-1)
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def forward(
        self, y_in: torch.Tensor, ext: torch.Tensor | None, *, sample: bool, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Run the encoders, controller and generator (and the JSLDS beside it).

        y_in: (B, T, H) held-in encoder input; ext: (B, T, E) recorded inputs or None.
        sample: draw g0 and u from the posteriors (else their means).
        Returns ``h`` (B, T, G), ``log_rates`` (B, T, C), ``kl_ic`` (B,), ``kl_co`` (B,), ``u``
        (B, T, co_dim) when there is a controller, and with JSLDS ``a``, ``e`` (expansion points),
        ``f_e`` (F(e*, u*)), ``log_rates_jslds``.
        """
        B, T, _ = y_in.shape

        def draw(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
            if not sample:
                return mean
            eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            return mean + torch.exp(0.5 * logvar) * eps

        ic_mean, ic_logvar = self.ic_posterior_params(y_in)
        g0 = draw(ic_mean, ic_logvar)
        out: dict[str, torch.Tensor] = {
            "kl_ic": gaussian_kl(ic_mean, ic_logvar, self.ic_prior_mean, self.ic_prior_logvar)
        }
        h = self.ic_to_gen(g0)
        a = h
        if self.co_dim:
            ci, _ = self.ci_encoder(self.dropout(y_in))
            ci = self.dropout(ci)
            con = self.con_h0.expand(B, -1)
            factors_prev = h @ self.factor_weights().T
        u_star = torch.zeros(B, self.generator.n_inputs, dtype=h.dtype, device=h.device)
        hs, us, u_means, u_logvars, as_, es, fes = [], [], [], [], [], [], []
        for t in range(T):
            parts = []
            if self.co_dim:
                con = self.controller(torch.cat([ci[:, t], self.dropout(factors_prev)], dim=-1), con)
                u_mean, u_logvar = self.co_posterior(con).chunk(2, dim=-1)
                u_logvar = u_logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)
                u_t = draw(u_mean, u_logvar)
                us.append(u_t), u_means.append(u_mean), u_logvars.append(u_logvar)
                parts.append(u_t)
            if self.n_ext:
                parts.append(ext[:, t])
            u_in = torch.cat(parts, dim=-1) if parts else u_star
            if self.use_jslds:
                e = self.expansion(a)
                a, f_e = jslds_step(self.generator, a, e, u_in, u_star)  # the cell itself: its closed-form JVP applies
                as_.append(a), es.append(e), fes.append(f_e)
            h = self.gen_step(h, u_in)
            hs.append(h)
            if self.co_dim:
                factors_prev = self.dropout(h) @ self.factor_weights().T
        out["h"] = torch.stack(hs, 1)
        out["log_rates"] = self.log_rates(self.dropout(out["h"]))
        if self.co_dim:
            u = torch.stack(us, 1)
            out["u"] = u
            if sample:
                log_q = diag_gaussian_log_density(u, torch.stack(u_means, 1), torch.stack(u_logvars, 1))
                out["kl_co"] = log_q - ar1_log_density(u, self.co_prior_log_tau, self.co_prior_log_var)
            else:  # at the posterior mean the sampled KL estimate is meaningless: report none
                out["kl_co"] = torch.zeros(B, dtype=h.dtype, device=h.device)
        else:
            out["kl_co"] = torch.zeros(B, dtype=h.dtype, device=h.device)
        if self.use_jslds:
            out["a"], out["e"], out["f_e"] = torch.stack(as_, 1), torch.stack(es, 1), torch.stack(fes, 1)
            out["log_rates_jslds"] = self.log_rates(self.dropout(out["a"]))
        return out

    def l2_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """½·mean(w²) of the generator's and the controller's weight matrices."""

        def half_mean_sq(module: nn.Module | None) -> torch.Tensor:
            mats = [p for n, p in module.named_parameters() if p.ndim == 2] if module is not None else []
            if not mats:
                return torch.zeros((), dtype=self.factors.weight.dtype, device=self.factors.weight.device)
            return sum(0.5 * (p**2).mean() for p in mats)

        return half_mean_sq(self.generator), half_mean_sq(getattr(self, "controller", None))


def poisson_nll(log_rates: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Elementwise Poisson negative log-likelihood without the log(y!) constant."""
    return torch.exp(log_rates) - y * log_rates


def ramp(epoch: int, length: int) -> float:
    """Linear ramp from 0 (epoch 0) to 1 (epoch ≥ length); 1 when length is 0."""
    return 1.0 if length <= 0 else min(1.0, epoch / length)


class LFADSJSLDS(FittedModel):
    """LFADS with an optional JSLDS co-trained generator (see module docstring)."""

    family = "lfads_jslds"
    Options = LFADSJSLDSOptions
    diagnostic_metrics = (
        MetricSpec(
            "jslds_relative_error",
            "JSLDS ‖h − a‖/‖h‖",
            "",
            "lower",
            ("counts",),
            "Mean over trials and steps of the distance between the generator state h and the co-trained JSLDS "
            "state a, relative to |h|: how well the switching linear system stands in for the RNN.",
        ),
        MetricSpec(
            "jslds_co_bps",
            "JSLDS co-bps",
            "bits/spike",
            "higher",
            ("counts",),
            "Co-smoothing bits per spike of the rates read out from the JSLDS states instead of the generator's.",
        ),
    )
    data_kinds = ("counts",)
    quick_options = {
        "gen_dim": 12,
        "ic_enc_dim": 8,
        "ic_dim": 4,
        "factors_dim": 3,
        "epochs": 3,
        "batch_size": 8,
        "kl_ramp_epochs": 2,
        "l2_ramp_epochs": 2,
        "posterior_samples": 4,
    }

    # --- network ---
    def net(self) -> LFADSNet:
        """The network with the saved weights, on the model's device, in eval mode."""
        m = self.meta
        net = LFADSNet(
            len(m["heldin_index"]), len(m["channels"]), len(m["inputs"]), m["config"], torch.zeros(len(m["channels"]))
        )
        net.load_state_dict(self.tensors)
        dtype = getattr(torch, m["config"]["dtype"])
        # analyses differentiate the generator map with respect to states, never weights
        return net.to(self.device, dtype).eval().requires_grad_(False)

    # --- data ---
    def _arrays(self, dataset: xr.Dataset, dtype: torch.dtype, device: torch.device):
        """counts y (B, T, C), observed mask (B, T, C), recorded inputs (B, T, E) or None."""
        self.check_channels(dataset)
        to = {"dtype": dtype, "device": device}
        y = torch.as_tensor(np.asarray(dataset["data"].values, dtype=np.float64), **to)
        mask = torch.as_tensor(dataset["mask"].values if "mask" in dataset else np.ones(y.shape, bool), **to)
        y = torch.nan_to_num(y) * mask
        ext = torch.as_tensor(dataset["inputs"].values, **to) if self.meta["inputs"] else None
        return y, mask, ext

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
    ) -> LFADSJSLDS:
        started = _time.perf_counter()
        cfg = cls.resolve_config(config)
        seed = cls.fit_settings(config, f"models.{cls.family}").seed
        kind = dataset["data"].attrs["kind"]
        if kind != "counts":
            raise DatasetContractError(
                "lfads_jslds fits spike counts; this dataset holds a continuous signal "
                "(use plrnn_em, smc_lowrank or lds)"
            )
        dtype = getattr(torch, cfg["dtype"])
        heldout = dataset["heldout"].values.astype(bool)
        if heldout.all():
            raise DatasetContractError("every channel is held out: the encoders would see nothing")
        split = np.asarray(dataset["split"].values).astype(str)
        train, valid = split == "train", split == "valid"
        if not train.any():
            raise DatasetContractError("the dataset has no training trials")
        meta: dict[str, Any] = {
            "config": cfg,
            "seed": seed,
            "kind": kind,
            "bin_size_s": float(dataset.attrs["bin_size_s"]),
            "channels": [str(c) for c in dataset["channel"].values.tolist()],
            "heldin_index": np.flatnonzero(~heldout).tolist(),
            "inputs": [str(v) for v in dataset["input"].values] if "inputs" in dataset else [],
            "n_train_trials": int(train.sum()),
            "latent_dim": int(cfg["gen_dim"]),
        }
        model = cls({"_": torch.zeros(1, device=device)}, meta)
        y, mask, ext = model._arrays(dataset.isel(trial=train), dtype, device)
        heldin = torch.as_tensor(meta["heldin_index"], device=device)
        val = model._arrays(dataset.isel(trial=valid), dtype, device) if valid.any() else None

        seed_everything(seed)  # the networks draw their initial weights from the global generator
        mean_rate = (y * mask).sum((0, 1)) / mask.sum((0, 1)).clamp(min=1)
        net = LFADSNet(
            len(heldin),
            y.shape[-1],
            0 if ext is None else ext.shape[-1],
            cfg,
            torch.log(mean_rate.clamp(min=1e-3)).cpu().to(torch.float32),
        ).to(device, dtype)
        optimizer = torch.optim.Adam(net.parameters(), lr=float(cfg["lr"]))
        n_train, batch = y.shape[0], int(cfg["batch_size"])
        batches_per_epoch = math.ceil(n_train / batch)
        total_steps = int(cfg["epochs"]) * batches_per_epoch
        gamma = (float(cfg["lr_end"]) / float(cfg["lr"])) ** (1.0 / max(total_steps, 1))
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
        rng = torch.Generator(device=device).manual_seed(seed + 1)
        # sample validation: one fixed set of hidden held-in entries per validation trial
        val_hidden = None
        if val is not None:
            g = torch.Generator(device=device).manual_seed(seed + 3)
            val_hidden = (
                torch.rand(val[0].shape[:2] + (len(heldin),), generator=g, device=device) < float(cfg["valid_drop"])
            ).to(dtype)
        history: list[list[float]] = []  # HISTORY_COLUMNS per epoch
        resumes: list[dict[str, Any]] = []
        best: dict[str, Any] = {"loss": math.inf, "epoch": 0, "state": None}
        start_epoch = 0
        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
        fingerprint = checkpoint_fingerprint(cfg, meta, seed, ignore=EVAL_ONLY)
        state = (
            resume_training(
                ckpt_path,
                fingerprint,
                "lfads_jslds",
                device,
                net=net,
                optimizer=optimizer,
                scheduler=scheduler,
                generator=rng,
                epochs=int(cfg["epochs"]),
            )
            if resume
            else None
        )
        if state is not None:

            def restore_extras() -> None:
                # dropout draws from torch's global generators: restore them for an identical continuation
                torch.set_rng_state(state["torch_rng"].cpu())
                if device.type == "cuda" and "cuda_rng" in state:
                    torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
                # checkpoints written before the learning rate was recorded have five columns
                history.extend(pad_history(state["history"].tolist(), HISTORY_COLUMNS))
                best.update(
                    loss=float(state["best_loss"]),
                    epoch=checked_progress(ckpt_path, state["best_epoch"], int(cfg["epochs"])),
                    state=state["best_state"] or None,
                )
                if best["state"] is not None:  # the best weights must fit the network too
                    copy.deepcopy(net).load_state_dict(best["state"])

            restore_into(ckpt_path, restore_extras)
            start_epoch = int(state["epoch"])
            resumes = state["resumes"]

        log.info(
            "lfads_jslds: generator %d (JSLDS %s), factors %d, inferred inputs %d, %d held-in of %d channels; "
            "%d training trials × %d bins, %d epochs on %s",
            cfg["gen_dim"],
            "on" if cfg["jslds"] else "off",
            cfg["factors_dim"],
            cfg["co_dim"],
            len(heldin),
            y.shape[-1],
            n_train,
            y.shape[1],
            cfg["epochs"],
            device,
        )
        # the ramped terms make earlier losses incomparable: the best epoch is chosen once ramps end
        select_from = min(max(int(cfg["kl_ramp_epochs"]), int(cfg["l2_ramp_epochs"])), int(cfg["epochs"]))
        stopped_early = False
        epoch = start_epoch
        for epoch in range(start_epoch, int(cfg["epochs"])):
            net.train()
            kl_w, l2_w = ramp(epoch, int(cfg["kl_ramp_epochs"])), ramp(epoch, int(cfg["l2_ramp_epochs"]))
            order = torch.randperm(n_train, generator=rng, device=device)
            total, r_a, r_e = 0.0, 0.0, 0.0
            for b in range(batches_per_epoch):
                idx = order[b * batch : (b + 1) * batch]
                yb, mb = y[idx], mask[idx]
                hidden = (
                    (
                        torch.rand(yb.shape[:2] + (len(heldin),), generator=rng, device=device) >= float(cfg["cd_keep"])
                    ).to(dtype)
                    if cfg["cd_keep"] < 1
                    else None
                )
                terms = _loss_terms(
                    net,
                    yb,
                    mb,
                    None if ext is None else ext[idx],
                    heldin,
                    hidden,
                    float(cfg["cd_keep"]),
                    rng,
                    kl_w,
                    cfg,
                )
                loss = terms["loss"] + l2_w * _l2(net, cfg)
                if not torch.isfinite(loss):
                    raise NeurodynError(
                        f"lfads_jslds: the loss became non-finite at epoch {epoch + 1}; lower lr or gen_clip"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), float(cfg["grad_clip"]))
                optimizer.step()
                scheduler.step()
                total += float(loss.detach()) * idx.numel()
                r_a += float(terms["r_a"]) * idx.numel()
                r_e += float(terms["r_e"]) * idx.numel()
            val_loss = math.nan
            if val is not None:
                net.eval()
                with torch.no_grad():
                    vgen = torch.Generator(device=device).manual_seed(seed + 2)
                    vterms = _loss_terms(
                        net, val[0], val[1], val[2], heldin, val_hidden, 1.0 - float(cfg["valid_drop"]), vgen, 1.0, cfg
                    )
                val_loss = float(vterms["loss"])
            history.append(
                [epoch + 1, total / n_train, val_loss, r_a / n_train, r_e / n_train, scheduler.get_last_lr()[0]]
            )
            score = val_loss if val is not None else total / n_train
            if epoch + 1 >= select_from and score < best["loss"]:
                best = {
                    "loss": score,
                    "epoch": epoch + 1,
                    "state": {k: v.detach().clone() for k, v in net.state_dict().items()},
                }
            report_progress(
                "lfads_jslds",
                epoch + 1,
                int(cfg["epochs"]),
                {
                    "train loss": history[-1][1],
                    "valid": val_loss,
                    "mean‖h−a‖²": history[-1][3],
                    "mean‖F(e*)−e*‖²": history[-1][4],
                    "lr": scheduler.get_last_lr()[0],
                },
            )
            done = best["state"] is not None and epoch + 1 - best["epoch"] >= int(cfg["patience"])
            if ckpt_path is not None and (
                (epoch + 1) % int(cfg["checkpoint_every"]) == 0 or epoch + 1 == int(cfg["epochs"]) or done
            ):
                save_checkpoint(
                    ckpt_path,
                    {
                        "net": net.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(),
                        "generator": rng.get_state(),
                        "epoch": epoch + 1,
                        "fingerprint": fingerprint,
                        "torch_rng": torch.get_rng_state(),
                        **({"cuda_rng": torch.cuda.get_rng_state(device)} if device.type == "cuda" else {}),
                        "history": torch.tensor(history, dtype=torch.float64),
                        "best_loss": best["loss"],
                        "best_epoch": best["epoch"],
                        "best_state": best["state"] or {},
                        "resumes": resumes,
                    },
                )
            if done:
                stopped_early = True
                log.info(
                    "lfads_jslds: no better validation loss for %d epochs; stopping at epoch %d (best %d)",
                    cfg["patience"],
                    epoch + 1,
                    best["epoch"],
                )
                break
        if best["state"] is not None:
            net.load_state_dict(best["state"])
        model.tensors = {k: v.detach().clone() for k, v in net.state_dict().items()}
        meta["history"] = history
        meta["fit"] = {
            "best_epoch": best["epoch"],
            "best_loss": best["loss"],
            "stopped_early": stopped_early,
            "epochs_run": len(history),
            "selected_by": "valid" if val is not None else "train",
            "resumes": resumes,
        }
        meta["fit_seconds"] = _time.perf_counter() - started
        log.info("lfads_jslds: fit took %.1f s; kept epoch %d", meta["fit_seconds"], best["epoch"])
        return model

    def training_curves(self) -> dict[str, Any]:
        """Per epoch: the training loss (mean over the epoch's minibatches, with the ramped KL and
        L2 weights of that epoch), the sample-validation loss, the JSLDS terms (when co-trained)
        and the learning rate at the epoch's end."""
        columns: dict[int, tuple[str, bool | None, str]] = {
            1: ("training loss", False, "Poisson NLL per bin + weighted KL, JSLDS and L2 terms, mean over the epoch"),
            2: ("validation loss", False, "Poisson NLL per bin + KL on the sample-validation bins"),
        }
        if self.meta.get("config", {}).get("jslds"):
            columns[3] = ("JSLDS ‖h − a‖²", False, "mean squared gap between the generator and its JSLDS")
            columns[4] = ("JSLDS ‖F(e*) − e*‖²", False, "mean squared speed of the map at the expansion points")
        columns[5] = ("learning rate", None, "Adam's learning rate at the end of the epoch")
        return training_curves_from("epoch", self.meta.get("history", []), columns)

    # --- interface ---
    def _run(self, dataset: xr.Dataset, n_samples: int, seed: int) -> dict[str, torch.Tensor]:
        """Posterior outputs averaged over ``n_samples`` draws of g0 (and u): (trial, time, ·)."""
        net = self.net()
        dtype = next(net.parameters()).dtype
        y, mask, ext = self._arrays(dataset, dtype, self.device)
        heldin = torch.as_tensor(self.meta["heldin_index"], device=self.device)
        y_in = (y * mask)[..., heldin]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        chunk = max(1, 4096 // n_samples)
        pieces: dict[str, list[torch.Tensor]] = {}
        with torch.no_grad():
            for start in range(0, y.shape[0], chunk):
                sl = slice(start, start + chunk)
                n = y_in[sl].shape[0]
                rep_in = y_in[sl].repeat_interleave(n_samples, 0)
                rep_ext = None if ext is None else ext[sl].repeat_interleave(n_samples, 0)
                out = net(rep_in, rep_ext, sample=True, generator=gen)
                out["rates"] = torch.exp(out["log_rates"])
                if "log_rates_jslds" in out:
                    out["rates_jslds"] = torch.exp(out["log_rates_jslds"])
                for key in ("h", "rates", "a", "e", "rates_jslds", "u"):
                    if key in out:
                        pieces.setdefault(key, []).append(out[key].reshape(n, n_samples, *out[key].shape[1:]).mean(1))
        return {k: torch.cat(v) for k, v in pieces.items()}

    def posterior(self, dataset: xr.Dataset, *, seed: int = 0, n_samples: int | None = None) -> xr.Dataset:
        """Generator states and rates averaged over posterior samples (held-in channels encoded);
        with JSLDS also ``jslds_latents``, ``expansion_points`` and ``prediction_jslds``."""
        res = self._run(dataset, int(n_samples or self.meta["config"]["posterior_samples"]), seed)
        out = latent_dataset(
            res["h"],
            res["rates"],
            dataset["trial"].values,
            dataset["time"].values,
            self.meta["channels"],
            self.meta["kind"],
        )
        dims3 = ("trial", "time", "latent")
        if "a" in res:
            out["jslds_latents"] = (dims3, res["a"].cpu().double().numpy(), {"long_name": "JSLDS state"})
            out["expansion_points"] = (dims3, res["e"].cpu().double().numpy(), {"long_name": "expansion point e*"})
            out["prediction_jslds"] = (
                ("trial", "time", "channel"),
                res["rates_jslds"].cpu().double().numpy(),
                {"units": "count", "long_name": "expected count per bin from the JSLDS"},
            )
        if "u" in res:
            out["inferred_inputs"] = (
                ("trial", "time", "inferred_input"),
                res["u"].cpu().double().numpy(),
                {"long_name": "inferred input (posterior mean over samples)"},
            )
        return out

    def diagnostics(self, posterior: xr.Dataset, fixed_points: np.ndarray) -> dict[str, Any]:
        """How well the co-trained JSLDS stands in for its generator (Smith, Linderman & Sussillo 2021):
        ``jslds_relative_error``, the mean over trials and steps of ‖h_t − a_t‖ / ‖h_t‖ (posterior
        means of generator and JSLDS states). Its readout is scored by the analysis as ``jslds_co_bps``
        (the posterior's ``prediction_jslds``)."""
        if "jslds_latents" not in posterior:
            return {}
        h, a = posterior["latents"].values, posterior["jslds_latents"].values
        norms = np.maximum(np.linalg.norm(h, axis=-1), 1e-12)
        return {"jslds_relative_error": float(np.mean(np.linalg.norm(h - a, axis=-1) / norms))}

    def sample(self, n_trials: int, n_steps: int, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        """Free runs: g0 from its prior, inferred inputs from their AR(1) prior, Poisson counts."""
        net = self.net()
        dtype = next(net.parameters()).dtype
        to = {"dtype": dtype, "device": self.device}
        n_ext = len(self.meta["inputs"])
        if inputs is not None:
            inputs = torch.as_tensor(inputs, **to)
            if inputs.shape != (n_trials, n_steps, n_ext):
                raise ConfigError("inputs", f"expected shape {(n_trials, n_steps, n_ext)}, got {tuple(inputs.shape)}")
        elif n_ext:
            inputs = torch.zeros(n_trials, n_steps, n_ext, **to)
        gen = torch.Generator(device=self.device).manual_seed(seed)
        with torch.no_grad():
            std0 = torch.exp(0.5 * net.ic_prior_logvar)
            g0 = net.ic_prior_mean + std0 * torch.randn(n_trials, net.ic_prior_mean.numel(), generator=gen, **to)
            h = net.ic_to_gen(g0)
            if net.co_dim:
                alpha = torch.exp(-torch.exp(-net.co_prior_log_tau))
                sd = torch.exp(0.5 * net.co_prior_log_var)
                u_prev = sd * torch.randn(n_trials, net.co_dim, generator=gen, **to)
            states = []
            for t in range(n_steps):
                parts = []
                if net.co_dim:
                    if t > 0:
                        u_prev = alpha * u_prev + sd * torch.sqrt(1 - alpha**2) * torch.randn(
                            n_trials, net.co_dim, generator=gen, **to
                        )
                    parts.append(u_prev)
                if n_ext:
                    parts.append(inputs[:, t])
                u = torch.cat(parts, -1) if parts else torch.zeros(n_trials, net.generator.n_inputs, **to)
                h = net.gen_step(h, u)
                states.append(h)
            z = torch.stack(states, 1)
            rates = torch.exp(net.log_rates(z))
            data = torch.poisson(rates, generator=gen)
        return latent_dataset(
            z,
            rates,
            np.arange(n_trials),
            np.arange(n_steps) * self.meta["bin_size_s"],
            self.meta["channels"],
            self.meta["kind"],
            data=data,
        )

    def dynamics(self) -> Dynamics:
        """The generator map h ↦ F(h, u), u = [inferred inputs, recorded inputs], in float64."""
        net = self.net().to(torch.float64)
        n_in, width = net.gen_input_dim, net.generator.n_inputs

        def step(z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
            lead = z.shape[:-1]
            z2 = z.reshape(-1, z.shape[-1]).to(torch.float64)
            u2 = torch.zeros(z2.shape[0], width, dtype=torch.float64, device=z.device)
            if u is not None and n_in:
                u2 = u.to(torch.float64).reshape(-1, n_in).expand(z2.shape[0], -1)
            return net.gen_step(z2, u2).reshape(*lead, -1)

        G = int(self.meta["config"]["gen_dim"])
        # a GRU's fixed point equals its candidate state tanh(·) (the update gate is below 1), and a clip bounds it too
        bound = min(1.0, net.generator.clip) if net.generator.clip is not None else 1.0

        def region(u: torch.Tensor | None = None) -> FixedPointRegion:
            ones = torch.ones(G, dtype=torch.float64)
            return FixedPointRegion(
                -bound * ones, bound * ones, "GRU generator: a fixed point is its own tanh candidate"
            )

        return Dynamics(latent_dim=G, input_dim=n_in, dt=self.meta["bin_size_s"], step=step, fixed_point_region=region)


def _l2(net: LFADSNet, cfg: dict[str, Any]) -> torch.Tensor:
    gen_l2, con_l2 = net.l2_terms()
    return float(cfg["l2_gen_scale"]) * gen_l2 + float(cfg["l2_con_scale"]) * con_l2


def _loss_terms(
    net: LFADSNet,
    y: torch.Tensor,
    mask: torch.Tensor,
    ext: torch.Tensor | None,
    heldin: torch.Tensor,
    hidden: torch.Tensor | None,
    keep: float,
    generator: torch.Generator,
    kl_weight: float,
    cfg: dict[str, Any],
) -> dict[str, torch.Tensor]:
    """The training (or sample-validation) loss of one batch and its parts.

    y, mask: (B, T, C); hidden: (B, T, H) 1 where a held-in entry is hidden from the encoders
    (coordinated dropout / sample validation) or None (all shown, all scored); keep: the
    fraction shown, for rescaling the shown entries.
    """
    y_heldin, m_heldin = y[..., heldin], mask[..., heldin]
    if hidden is None:
        y_in = y_heldin * m_heldin
        score = mask.clone()
    else:
        y_in = y_heldin * m_heldin * (1.0 - hidden) / keep
        score = mask.clone()
        score[..., heldin] = m_heldin * hidden  # held-in entries count only where hidden
    out = net(y_in, ext, sample=True, generator=generator)
    # NLL per time bin summed over channels: the mean over scored entries times the channel count
    per_bin = y.shape[2] / score.sum().clamp(min=1.0)
    recon = (score * poisson_nll(out["log_rates"], y)).sum() * per_bin
    kl = (float(cfg["kl_ic_scale"]) * out["kl_ic"] + float(cfg["kl_co_scale"]) * out["kl_co"]).mean() / y.shape[1]
    zero = torch.zeros((), dtype=y.dtype, device=y.device)
    terms = {"recon": recon, "kl": kl, "r_a": zero, "r_e": zero}
    loss = float(cfg["lambda_rnn"]) * recon + kl_weight * kl
    if net.use_jslds:
        recon_jslds = (score * poisson_nll(out["log_rates_jslds"], y)).sum() * per_bin
        r_e = ((out["f_e"] - out["e"]) ** 2).mean()
        r_a = ((out["h"] - out["a"]) ** 2).mean()
        loss = (
            loss
            + float(cfg["lambda_jslds"]) * recon_jslds
            + float(cfg["lambda_e"]) * r_e
            + float(cfg["lambda_a"]) * r_a
        )
        terms.update(recon_jslds=recon_jslds, r_e=r_e.detach(), r_a=r_a.detach())
    terms["loss"] = loss
    return terms


__all__ = ["LFADSJSLDS", "LFADSJSLDSOptions", "LFADSNet", "ar1_log_density", "gaussian_kl"]
