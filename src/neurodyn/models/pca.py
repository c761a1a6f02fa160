"""Principal components of latent features: the starting point several families fit from."""

from __future__ import annotations

import torch


def fit_pca(features: torch.Tensor, n_components: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """features: (sample, channel) → mean (channel,), components (channel, k) orthonormal,
    explained-variance ratio (k,)."""
    mean = features.mean(0)
    centred = features - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    var = s**2
    components = vh[:n_components].T
    # fix signs so the largest loading of each component is positive (deterministic output)
    signs = torch.sign(components.gather(0, components.abs().argmax(0, keepdim=True)))
    return mean, components * signs, var[:n_components] / var.sum()
