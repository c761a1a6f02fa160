"""Model families behind one interface (:class:`neurodyn.models.base.FittedModel`)."""

from __future__ import annotations

import os

import torch

from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.base import Dynamics, FittedModel, read_model_files
from neurodyn.models.lds import LDSBaseline
from neurodyn.models.lfads_jslds.model import LFADSJSLDS
from neurodyn.models.plrnn_em.model import PLRNNEM
from neurodyn.models.smc_lowrank.model import SMCLowRank

FAMILIES: dict[str, type[FittedModel]] = {cls.family: cls for cls in (LDSBaseline, SMCLowRank, PLRNNEM, LFADSJSLDS)}


def get_family(name: str, where: str = "family") -> type[FittedModel]:
    """The registered family called ``name``; ConfigError naming ``where`` otherwise."""
    if name not in FAMILIES:
        raise ConfigError(where, f"unknown model family {name!r} (known: {sorted(FAMILIES)})")
    return FAMILIES[name]


def load_model(directory: str | os.PathLike[str], device: torch.device | str = "cpu") -> FittedModel:
    """Load a saved model of any family."""
    tensors, meta = read_model_files(directory, device)
    family = meta.get("family")
    if family not in FAMILIES:
        raise InputFileError(directory, f"unknown model family {family!r}")
    return FAMILIES[family](tensors, meta)


__all__ = ["FAMILIES", "Dynamics", "FittedModel", "get_family", "load_model"]
