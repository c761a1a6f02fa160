"""Model families behind one interface (:class:`neurodyn.models.base.FittedModel`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from neurodyn.errors import ConfigError, InputFileError
from neurodyn.models.base import META_FILE, Dynamics, FittedModel, check_loaded, read_model_files
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
    """Load a saved model of any family, checked (:func:`neurodyn.models.base.read_model_files`,
    :func:`neurodyn.models.base.check_loaded`): every problem raises InputFileError naming the file."""
    tensors, meta = read_model_files(directory, device)
    family = meta["family"]
    if family not in FAMILIES:
        raise InputFileError(
            Path(directory) / META_FILE, f"names an unknown model family {family!r} (known: {sorted(FAMILIES)})"
        )
    return check_loaded(FAMILIES[family](tensors, meta), directory)


__all__ = ["FAMILIES", "Dynamics", "FittedModel", "get_family", "load_model"]
