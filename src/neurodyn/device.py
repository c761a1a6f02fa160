"""Choosing the torch device and making runs reproducible."""

from __future__ import annotations

import random

import numpy as np
import torch

from neurodyn.errors import ConfigError

# what a device option may say: auto (CUDA when present), cpu, cuda or cuda:N
DEVICE_PATTERN = r"auto|cpu|cuda(:[0-9]+)?"


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else CPU; ``cpu`` or ``cuda[:k]`` explicitly."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device", f"{preference!r} requested but no CUDA device is available")
    try:
        return torch.device(preference)
    except RuntimeError as exc:
        raise ConfigError("device", str(exc))


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch; return a CPU generator for explicit sampling."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
