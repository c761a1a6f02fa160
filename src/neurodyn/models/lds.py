"""Baseline: smoothed observations → PCA latents → linear dynamical system → GLM readout.

Fast, deterministic and closed-form (up to the readout's Newton iterations), it is the yardstick
every other family must beat:

1. held-in channels are Gaussian-smoothed in time (normalised convolution, so unobserved bins
   do not bias their neighbours) and, for counts, square-root transformed;
2. PCA on the training trials gives ``latent_dim`` latents z_t;
3. z_{t+1} = A z_t + B u_t + b + ε, ε ~ N(0, Q), by ridge least squares over all training
   transitions; z_0 ~ N(μ_0, Σ_0) from the first bins;
4. every channel (held-in and held-out) is read out from z: Poisson exp(C z + d) for counts,
   Gaussian C z + d for continuous signals.
"""

from __future__ import annotations

import logging
import os
import time as _time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import xarray as xr

from neurodyn.data.smoothing import smooth_in_time
from neurodyn.errors import ConfigError
from neurodyn.models.base import Dynamics, FittedModel, latent_dataset
from neurodyn.models.pca import fit_pca
from neurodyn.models.readout import fit_gaussian_readout, fit_poisson_glm
from neurodyn.models.structure import AffineMap
from neurodyn.options import Options, option

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LDSOptions(Options):
    """Options of the ``lds`` baseline."""

    latent_dim: int = option(6, "latent dimensions (principal components of the smoothed held-in data)", ge=1)
    smoothing_s: float = option(
        0.05, "standard deviation in seconds of the Gaussian smoothing in time before PCA; 0: none", ge=0
    )
    transform: str = option(
        "auto",
        "transform of the smoothed data before PCA: sqrt, none, or auto (sqrt for spike counts, none otherwise)",
        choices=("auto", "sqrt", "none"),
    )
    ridge: float = option(
        1e-4,
        "ridge penalty of the latent dynamics fit, as a fraction of the mean squared latent (and input) value",
        ge=0,
    )
    readout_l2: float = option(
        1e-3,
        "L2 (ridge) penalty on the weights that read each channel out from the latents (offsets are not penalised)",
        ge=0,
    )


def fit_linear_dynamics(z: torch.Tensor, u: torch.Tensor | None, ridge: float):
    """Least squares for z_{t+1} = A z_t + B u_t + b.

    z: (trial, time, L); u: (trial, time, I) or None; ridge: relative to the mean diagonal of the
    Gram matrix. Returns A (L, L), B (L, I), b (L,), Q (L, L) residual covariance.
    """
    n_lat = z.shape[-1]
    regressors = [z[:, :-1]]
    if u is not None:
        regressors.append(u[:, :-1])
    X = torch.cat(regressors + [torch.ones_like(z[:, :-1, :1])], dim=-1).reshape(
        -1, n_lat + (0 if u is None else u.shape[-1]) + 1
    )
    Y = z[:, 1:].reshape(-1, n_lat)
    gram = X.T @ X
    penalty = ridge * gram.diagonal()[:-1].mean() * torch.ones(X.shape[1], dtype=z.dtype, device=z.device)
    penalty[-1] = 0.0
    W = torch.linalg.solve(gram + torch.diag(penalty), X.T @ Y)  # (k, L)
    resid = Y - X @ W
    Q = resid.T @ resid / max(resid.shape[0] - X.shape[1], 1)
    A = W[:n_lat].T
    B = W[n_lat:-1].T if u is not None else torch.zeros(n_lat, 0, dtype=z.dtype, device=z.device)
    return A.contiguous(), B.contiguous(), W[-1].contiguous(), Q


def _cholesky(cov: torch.Tensor) -> torch.Tensor:
    jitter = 1e-9 * cov.diagonal().mean().clamp(min=1e-12)
    return torch.linalg.cholesky(cov + jitter * torch.eye(cov.shape[0], dtype=cov.dtype, device=cov.device))


class LDSBaseline(FittedModel):
    """PCA + linear dynamical system baseline (see module docstring)."""

    family = "lds"
    Options = LDSOptions
    quick_options = {"latent_dim": 2}

    # --- features ---
    def _features(self, dataset: xr.Dataset) -> np.ndarray:
        """(trial, time, held-in channel) smoothed, transformed features."""
        meta = self.meta
        self.check_channels(dataset)
        heldin = np.asarray(meta["heldin_index"], dtype=np.int64)
        values = dataset["data"].values[:, :, heldin]
        observed = dataset["mask"].values[:, :, heldin] if "mask" in dataset else np.ones(values.shape, bool)
        feats = smooth_in_time(values, observed, meta["sigma_bins"])
        if meta["transform"] == "sqrt":
            feats = np.sqrt(np.maximum(feats, 0.0))
        return feats

    def _readout(self, z: torch.Tensor) -> torch.Tensor:
        eta = z @ self.tensors["C"].T + self.tensors["d"]
        return torch.exp(eta.clamp(max=20.0)) if self.meta["kind"] == "counts" else eta

    # --- interface ---
    @classmethod
    def fit(
        cls,
        dataset: xr.Dataset,
        config: dict[str, Any],
        device: torch.device,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> LDSBaseline:
        # closed form: nothing worth checkpointing
        started = _time.perf_counter()
        cfg = cls.resolve_config(config)
        kind = dataset["data"].attrs["kind"]
        transform = cfg["transform"] if cfg["transform"] != "auto" else ("sqrt" if kind == "counts" else "none")
        heldout = dataset["heldout"].values.astype(bool)
        heldin_index = np.flatnonzero(~heldout)
        train = np.asarray(dataset["split"].values).astype(str) == "train"
        latent_dim = int(min(cfg["latent_dim"], heldin_index.size, int(train.sum()) * dataset.sizes["time"] - 1))
        if latent_dim < int(cfg["latent_dim"]):
            log.warning(
                "lds: latent_dim %d is more than the data allow (%d held-in channels, %d training bins); using %d",
                cfg["latent_dim"],
                heldin_index.size,
                int(train.sum()) * dataset.sizes["time"],
                latent_dim,
            )
        bin_size = float(dataset.attrs["bin_size_s"])
        meta = {
            "config": cfg,
            "kind": kind,
            "bin_size_s": bin_size,
            "channels": [str(c) for c in dataset["channel"].values.tolist()],
            "heldin_index": heldin_index.tolist(),
            "latent_dim": latent_dim,
            "sigma_bins": float(cfg["smoothing_s"]) / bin_size,
            "transform": transform,
            "inputs": [str(v) for v in dataset["input"].values] if "inputs" in dataset else [],
            "n_train_trials": int(train.sum()),
        }
        model = cls({}, meta)
        train_ds = dataset.isel(trial=train)
        to = dict(dtype=torch.float64, device=device)
        feats = torch.as_tensor(model._features(train_ds), **to)  # (trial, time, heldin)
        n_trial, n_time, _ = feats.shape
        mean, components, explained = fit_pca(feats.reshape(-1, feats.shape[-1]), latent_dim)
        log.info(
            "lds: PCA of %d held-in channels on %d training trials: %d latents explain %.1f%% of variance",
            heldin_index.size,
            n_trial,
            latent_dim,
            100 * float(explained.sum()),
        )
        z = (feats - mean) @ components  # (trial, time, L)
        u = torch.as_tensor(train_ds["inputs"].values, **to) if "inputs" in dataset else None
        A, B, b, Q = fit_linear_dynamics(z, u, float(cfg["ridge"]))
        z0 = z[:, 0]
        z0_cov = (z0 - z0.mean(0)).T @ (z0 - z0.mean(0)) / max(n_trial - 1, 1) if n_trial > 1 else Q.clone()
        log.info("lds: dynamics fitted, spectral radius %.4f", float(torch.linalg.eigvals(A).abs().max()))

        y = torch.as_tensor(train_ds["data"].values, **to).reshape(n_trial * n_time, -1)
        weight = torch.as_tensor(train_ds["mask"].values, **to).reshape(n_trial * n_time, -1)
        z_flat = z.reshape(-1, latent_dim)
        tensors = {
            "pca_mean": mean,
            "pca_components": components,
            "explained_variance_ratio": explained,
            "A": A,
            "B": B,
            "b": b,
            "Q_chol": _cholesky(Q),
            "z0_mean": z0.mean(0),
            "z0_chol": _cholesky(z0_cov),
        }
        if kind == "counts":
            C, d = fit_poisson_glm(z_flat, y, weight, l2=float(cfg["readout_l2"]))
            tensors.update(C=C, d=d)
        else:
            C, d, noise = fit_gaussian_readout(z_flat, y, weight, l2=float(cfg["readout_l2"]))
            tensors.update(C=C, d=d, noise_var=noise)
        model.tensors = tensors
        meta["fit_seconds"] = _time.perf_counter() - started
        log.info("lds: readout fitted for %d channels; fit took %.2f s", y.shape[1], meta["fit_seconds"])
        return model

    def posterior(self, dataset: xr.Dataset) -> xr.Dataset:
        feats = torch.as_tensor(self._features(dataset), dtype=torch.float64, device=self.device)
        z = (feats - self.tensors["pca_mean"]) @ self.tensors["pca_components"]
        pred = self._readout(z)
        return latent_dataset(
            z, pred, dataset["trial"].values, dataset["time"].values, dataset["channel"].values, self.meta["kind"]
        )

    def sample(self, n_trials: int, n_steps: int, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        gen = torch.Generator(device=self.device).manual_seed(seed)
        t = self.tensors
        L = self.meta["latent_dim"]
        n_in = t["B"].shape[1]
        if n_in and inputs is None:
            inputs = torch.zeros(n_trials, n_steps, n_in, dtype=torch.float64, device=self.device)
        if inputs is not None:
            inputs = torch.as_tensor(inputs, dtype=torch.float64, device=self.device)
            if inputs.shape != (n_trials, n_steps, n_in):
                raise ConfigError("inputs", f"expected shape {(n_trials, n_steps, n_in)}, got {tuple(inputs.shape)}")
        noise = torch.randn(n_trials, n_steps, L, generator=gen, dtype=torch.float64, device=self.device)
        z = torch.empty(n_trials, n_steps, L, dtype=torch.float64, device=self.device)
        z[:, 0] = t["z0_mean"] + noise[:, 0] @ t["z0_chol"].T
        step = self.dynamics().step
        for k in range(1, n_steps):
            z[:, k] = step(z[:, k - 1], None if inputs is None else inputs[:, k - 1]) + noise[:, k] @ t["Q_chol"].T
        pred = self._readout(z)
        if self.meta["kind"] == "counts":
            data = torch.poisson(pred, generator=gen)
        else:
            data = (
                pred
                + torch.randn(pred.shape, generator=gen, dtype=pred.dtype, device=pred.device) * t["noise_var"].sqrt()
            )
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
        A, B, b = self.tensors["A"], self.tensors["B"], self.tensors["b"]

        def step(z: torch.Tensor, u: torch.Tensor | None = None) -> torch.Tensor:
            out = z @ A.T + b
            return out if u is None or B.shape[1] == 0 else out + u @ B.T

        return Dynamics(
            latent_dim=A.shape[0],
            input_dim=B.shape[1],
            dt=self.meta["bin_size_s"],
            step=step,
            structure=AffineMap(A=A, B=B, b=b),
        )
