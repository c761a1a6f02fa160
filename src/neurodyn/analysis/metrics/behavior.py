"""Behaviour decoding: how much of the recorded behaviour a linear read-out of rates explains.

The velocity-R² protocol of the Neural Latents Benchmark (Pei et al. 2021, NeurIPS Datasets and
Benchmarks, "Neural Latents Benchmark '21"): every time bin of every trial is one sample; a ridge
regression with an intercept maps the rates of all channels (held-in and held-out) to the
behaviour; its penalty α is chosen from a log-spaced grid (10^-4 … 10^0, nine values) by 5-fold
cross-validation on the training trials only, the regression is refitted on all training samples
with that α and scored on the evaluation trials by the coefficient of determination of each
behaviour dimension, averaged uniformly over dimensions (scikit-learn's ``r2_score`` with
``multioutput="uniform_average"``, which the benchmark's ``GridSearchCV(Ridge())`` uses).

Differences from the benchmark's scikit-learn code, both deliberate: the cross-validation folds
are contiguous blocks of whole training trials (the benchmark's ``KFold`` cuts contiguous blocks of
samples, which may split a trial between a fold and its complement; whole trials keep a trial's
autocorrelated bins out of its own validation fold), falling back to contiguous blocks of samples
when there is a single training trial; and a behaviour dimension that is constant over the scored
samples has no R² (NaN, left out of the average) instead of scikit-learn's 0 or 1.

Everything here is a pure function of arrays (numpy only); the ridge regression is solved in
closed form through one eigendecomposition of the features' Gram matrix per fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neurodyn.analysis.metrics._checks import as_float_array, check_ndim, check_positive_int
from neurodyn.errors import NeurodynError

# the benchmark's grid of ridge penalties: np.logspace(-4, 0, 9)
NLB_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-4, 0, 9))
N_FOLDS = 5


@dataclass
class RidgeDecoding:
    """The result of :func:`fit_and_score_ridge` / :func:`behavior_decoding`.

    r2: R² averaged uniformly over the behaviour dimensions that vary (None when none does);
    r2_per_dim: (behavior,) R² of each dimension on the evaluation samples (NaN: constant there);
    alpha: the penalty chosen by cross-validation; alphas: (A,) the grid; cv_r2: (A,) the mean
    cross-validated R² of each penalty; n_train, n_eval: samples (time bins) used; n_folds: folds.
    """

    r2: float | None
    r2_per_dim: np.ndarray
    alpha: float
    alphas: np.ndarray
    cv_r2: np.ndarray
    n_train: int
    n_eval: int
    n_folds: int

    def to_json(self) -> dict[str, Any]:
        """Plain values (NaN → None)."""

        def plain(x: np.ndarray) -> list[float | None]:
            return [float(v) if np.isfinite(v) else None for v in np.asarray(x, dtype=float)]

        return {
            "r2": self.r2,
            "r2_per_dim": plain(self.r2_per_dim),
            "alpha": float(self.alpha),
            "alphas": plain(self.alphas),
            "cv_r2": plain(self.cv_r2),
            "n_train_samples": int(self.n_train),
            "n_eval_samples": int(self.n_eval),
            "n_folds": int(self.n_folds),
        }


def ridge_fit(x: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regressions with an intercept for several penalties at once, in closed form.

    Minimises ‖y − x w − b‖² + α‖w‖² (the intercept b is not penalised): with x̄, ȳ the column
    means, X = x − x̄ and XᵀX = V diag(λ) Vᵀ, w(α) = V diag(1 / (λ + α)) Vᵀ Xᵀ(y − ȳ) and
    b = ȳ − x̄ w(α) (one symmetric eigendecomposition of the F × F Gram matrix serves every α).

    x: (n, F); y: (n, B); alphas: (A,) > 0 → (weights (A, F, B), intercepts (A, B)).
    """
    x_mean, y_mean = x.mean(0), y.mean(0)
    centred = x - x_mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    projected = vectors.T @ (centred.T @ (y - y_mean))  # (F, B)
    shrink = 1.0 / (np.clip(eigenvalues, 0.0, None)[None, :] + np.asarray(alphas, dtype=float)[:, None])  # (A, F)
    weights = np.einsum("fk,ak,kb->afb", vectors, shrink, projected)
    intercepts = y_mean[None, :] - np.einsum("f,afb->ab", x_mean, weights)
    return weights, intercepts


def r2_per_dimension(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Coefficient of determination of each column: 1 − Σ(y − ŷ)² / Σ(y − ȳ)², ȳ the column's mean
    over these samples. y_true, y_pred: (n, B) → (B,); NaN for a column that is constant."""
    ss_res = ((y_true - y_pred) ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0)
    scale = np.maximum(np.abs(y_true).max(0), np.finfo(float).tiny) ** 2 * len(y_true)
    varying = ss_tot > 1e-24 * scale
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(varying, 1.0 - ss_res / np.where(varying, ss_tot, 1.0), np.nan)


def _uniform_average(r2: np.ndarray) -> float:
    """Mean over the dimensions that have an R² (NaN when none has)."""
    return float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan")


def _folds(groups: np.ndarray, n_folds: int) -> list[np.ndarray]:
    """Boolean (n,) validation masks: contiguous blocks of whole groups (trials) in order of first
    appearance, or of samples when there is a single group."""
    _, first = np.unique(groups, return_index=True)
    ordered = groups[np.sort(first)]
    if len(ordered) >= 2:
        blocks = np.array_split(ordered, min(n_folds, len(ordered)))
        return [np.isin(groups, block) for block in blocks]
    index = np.arange(len(groups))
    return [np.isin(index, block) for block in np.array_split(index, min(n_folds, len(groups)))]


def fit_and_score_ridge(
    train_x: np.ndarray,
    train_y: np.ndarray,
    eval_x: np.ndarray,
    eval_y: np.ndarray,
    *,
    train_groups: np.ndarray | None = None,
    alphas: tuple[float, ...] | np.ndarray = NLB_ALPHAS,
    n_folds: int = N_FOLDS,
) -> RidgeDecoding:
    """Ridge decoder with the penalty cross-validated on the training samples, scored on the
    evaluation samples (the benchmark's ``fit_and_eval_decoder``; see the module docstring).

    train_x: (n, F) features; train_y: (n, B) targets; eval_x: (m, F); eval_y: (m, B), all finite;
    train_groups: (n,) the trial of each training sample, folds being contiguous blocks of whole
    trials (None: one trial); alphas: (A,) penalties > 0, tried in order (ties keep the first).
    """
    train_x, eval_x = as_float_array("train_x", train_x), as_float_array("eval_x", eval_x)
    train_y, eval_y = as_float_array("train_y", train_y), as_float_array("eval_y", eval_y)
    for name, array in (("train_x", train_x), ("train_y", train_y), ("eval_x", eval_x), ("eval_y", eval_y)):
        check_ndim(name, array, (2,), "(sample, feature)" if name.endswith("x") else "(sample, behavior)")
        if not np.isfinite(array).all():
            raise NeurodynError(f"{name}: {int((~np.isfinite(array)).sum())} entries are NaN or infinite")
    if train_x.shape[0] != train_y.shape[0] or eval_x.shape[0] != eval_y.shape[0]:
        raise NeurodynError(
            f"train_x, train_y / eval_x, eval_y: sample counts differ ({train_x.shape[0]} vs {train_y.shape[0]}, "
            f"{eval_x.shape[0]} vs {eval_y.shape[0]})"
        )
    if train_x.shape[1] != eval_x.shape[1] or train_y.shape[1] != eval_y.shape[1]:
        raise NeurodynError("eval_x, eval_y: need the features and behaviour dimensions of train_x, train_y")
    n_folds = check_positive_int("n_folds", n_folds)
    if train_x.shape[0] < 2 or n_folds < 2:
        raise NeurodynError(f"train_x: cross-validation needs at least 2 samples and 2 folds, got {train_x.shape[0]}")
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or not (np.isfinite(alphas) & (alphas > 0)).all():
        raise NeurodynError(f"alphas: must be a non-empty list of finite penalties > 0, got {alphas.tolist()}")
    groups = np.zeros(train_x.shape[0], int) if train_groups is None else np.asarray(train_groups)
    if groups.shape != (train_x.shape[0],):
        raise NeurodynError(f"train_groups: expected shape ({train_x.shape[0]},), got {groups.shape}")

    folds = _folds(groups, n_folds)
    scores = np.full((len(folds), alphas.size), np.nan)
    for k, held in enumerate(folds):
        w, b = ridge_fit(train_x[~held], train_y[~held], alphas)
        predicted = np.einsum("nf,afb->anb", train_x[held], w) + b[:, None, :]
        scores[k] = [_uniform_average(r2_per_dimension(train_y[held], p)) for p in predicted]
    # mean over the folds that have a score (a fold whose behaviour is constant has none)
    finite = np.isfinite(scores)
    scored = finite.sum(0)
    cv = np.where(scored > 0, np.where(finite, scores, 0.0).sum(0) / np.maximum(scored, 1), np.nan)
    best = int(np.nanargmax(cv)) if np.isfinite(cv).any() else 0
    w, b = ridge_fit(train_x, train_y, alphas[best : best + 1])
    per_dim = r2_per_dimension(eval_y, eval_x @ w[0] + b[0])
    mean = _uniform_average(per_dim)
    return RidgeDecoding(
        r2=mean if np.isfinite(mean) else None,
        r2_per_dim=per_dim,
        alpha=float(alphas[best]),
        alphas=alphas,
        cv_r2=cv,
        n_train=int(train_x.shape[0]),
        n_eval=int(eval_x.shape[0]),
        n_folds=len(folds),
    )


def decoding_samples(
    rates: np.ndarray, behavior: np.ndarray, use: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The samples a decoder uses: every (trial, time) bin selected by ``use`` whose behaviour is
    finite in every dimension.

    rates: (trial, time, channel); behavior: (trial, time, behavior); use: (trial, time) bool or
    None (all bins) → (x (n, channel), y (n, behavior), trial index of each sample (n,)).
    """
    rates, behavior = as_float_array("rates", rates), as_float_array("behavior", behavior)
    check_ndim("rates", rates, (3,), "(trial, time, channel)")
    check_ndim("behavior", behavior, (3,), "(trial, time, behavior)")
    if rates.shape[:2] != behavior.shape[:2]:
        raise NeurodynError(f"behavior: (trial, time) {behavior.shape[:2]} differs from the rates' {rates.shape[:2]}")
    keep = np.isfinite(behavior).all(-1)
    if use is not None:
        use = np.asarray(use, dtype=bool)
        if use.shape != rates.shape[:2]:
            raise NeurodynError(f"use: shape {use.shape} differs from the rates' (trial, time) {rates.shape[:2]}")
        keep &= use
    trial = np.broadcast_to(np.arange(rates.shape[0])[:, None], rates.shape[:2])
    return rates[keep], behavior[keep], trial[keep]


def behavior_decoding(
    train_rates: np.ndarray,
    train_behavior: np.ndarray,
    eval_rates: np.ndarray,
    eval_behavior: np.ndarray,
    *,
    train_use: np.ndarray | None = None,
    eval_use: np.ndarray | None = None,
    alphas: tuple[float, ...] | np.ndarray = NLB_ALPHAS,
    n_folds: int = N_FOLDS,
) -> RidgeDecoding:
    """Behaviour R² of a ridge decoder from rates (Pei et al. 2021; see the module docstring).

    train_rates: (trial, time, channel) rates of the training trials (e.g. expected counts per bin
    of every channel); train_behavior: (trial, time, behavior); eval_rates, eval_behavior: the same
    for the evaluation trials; train_use, eval_use: (trial, time) bool bins to use (e.g. observed
    ones) or None. Bins whose behaviour is not finite are left out; the rates of the bins used
    must be finite. The penalty is cross-validated on the training trials only (folds of whole
    trials) and R² is averaged uniformly over behaviour dimensions.
    """
    tx, ty, groups = decoding_samples(train_rates, train_behavior, train_use)
    ex, ey, _ = decoding_samples(eval_rates, eval_behavior, eval_use)
    if len(ex) == 0:
        raise NeurodynError("eval_behavior: no evaluation bin has finite behaviour")
    return fit_and_score_ridge(tx, ty, ex, ey, train_groups=groups, alphas=alphas, n_folds=n_folds)


__all__ = [
    "NLB_ALPHAS",
    "N_FOLDS",
    "RidgeDecoding",
    "behavior_decoding",
    "decoding_samples",
    "fit_and_score_ridge",
    "r2_per_dimension",
    "ridge_fit",
]
