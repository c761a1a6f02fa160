"""The interface every model family implements, and safe storage of fitted models.

A fitted model is saved as a directory holding ``weights.pt`` (a flat dict of tensors, read back
with ``torch.load(weights_only=True)``; never a pickled object) and ``model.json`` (family,
configuration and metadata). Analyses and reports only use this interface, so they never
special-case a family.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import xarray as xr

from neurodyn.device import DEVICE_PATTERN
from neurodyn.errors import ConfigError, DatasetContractError, InputFileError
from neurodyn.metric_spec import MetricSpec
from neurodyn.models.structure import Structure
from neurodyn.options import Options, option
from neurodyn.storage import config_hash, write_atomically
from neurodyn.version import __version__

WEIGHTS_FILE = "weights.pt"
META_FILE = "model.json"


@dataclass
class Dynamics:
    """The latent map z_next = step(z, u) of a fitted model.

    step: torch-differentiable, z (..., latent_dim), u (..., input_dim) or None → (..., latent_dim);
    dt: seconds per step; structure: the map's exact form when it has one
    (:mod:`neurodyn.models.structure`: affine, low-rank piecewise-linear or PLRNN), which picks the
    exact fixed-point solver and is what ``export-weights`` writes; None: searched numerically.
    fixed_point_region: for a numerically searched map, u (input_dim,) or None → a
    :class:`FixedPointRegion` known to hold every fixed point at that constant input (the search
    covers it with its design); None: the search covers the visited states' widened bounding box.
    """

    latent_dim: int
    input_dim: int
    dt: float
    step: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    structure: Structure | None = None
    fixed_point_region: Callable[[torch.Tensor | None], FixedPointRegion] | None = None


@dataclass(frozen=True)
class FixedPointRegion:
    """A box lo ≤ z ≤ hi (each (latent,)) that holds every fixed point of a map, and why it does."""

    lo: torch.Tensor
    hi: torch.Tensor
    reason: str


@dataclass(frozen=True)
class FitSettings(Options):
    """How any family's fit runs (beside the family's own options in the same model entry)."""

    passthrough = ("family",)

    seed: int = option(0, "seed of initialisation, minibatches and sampling", ge=0)
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N")

    def check(self, where: str) -> None:
        if not re.fullmatch(DEVICE_PATTERN, self.device):
            raise ConfigError(f"{where}.device", f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")


class FittedModel(ABC):
    """A fitted latent dynamical model of one binned dataset.

    A family sets ``family`` (its registered name), ``Options`` (the dataclass of its options: the
    only place they are defined), ``data_kinds`` and ``quick_options``, and implements the abstract
    methods; ``tests/test_family_contract.py`` then runs it through fit, save/load, posterior,
    sampling, dynamics and fixed points.
    """

    family: ClassVar[str]
    Options: ClassVar[type[Options]]
    # kinds of data the family models ("counts", "continuous")
    data_kinds: ClassVar[tuple[str, ...]] = ("counts", "continuous")
    # options that fit a small dataset in seconds: the family contract test and quick checks use them
    quick_options: ClassVar[dict[str, Any]] = {}
    # what ``diagnostics`` reports, for reports and the metric glossary
    diagnostic_metrics: ClassVar[tuple[MetricSpec, ...]] = ()

    # the folder a loaded model was read from (None for a model fitted in this process)
    source: Path | None = None

    def __init__(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]):
        self.tensors = tensors
        self.meta = meta

    @staticmethod
    def fit_settings(config: dict[str, Any] | None, where: str = "models") -> FitSettings:
        """The fit settings (``seed``, ``device``) of a model entry, checked."""
        names = [f.name for f in fields(FitSettings)]
        return FitSettings.parse({k: v for k, v in (config or {}).items() if k in names}, where)

    @classmethod
    def resolve_config(cls, config: dict[str, Any] | None, where: str | None = None) -> dict[str, Any]:
        """The family's options from a model entry, defaults filled in, as plain values; the fit
        settings (``seed``, ``device``) and ``family`` are not the family's and are left out. Wrong
        keys, types or values raise ConfigError naming ``<where>.<option>`` (``models.<family>``
        by default)."""
        options = dict(config or {})
        for key in ("family", *(f.name for f in fields(FitSettings))):
            options.pop(key, None)
        return cls.Options.parse(options, where or f"models.{cls.family}").as_dict()

    # --- fitting and storage ---
    @classmethod
    @abstractmethod
    def fit(
        cls,
        dataset: xr.Dataset,
        config: dict[str, Any],
        device: torch.device,
        *,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
    ) -> FittedModel:
        """Fit to the training trials of ``dataset``; long fits checkpoint into
        ``checkpoint_dir`` and continue from the last checkpoint when ``resume`` is true."""

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write weights and metadata to ``directory`` atomically."""
        meta = {"family": self.family, "neurodyn_version": __version__, **self.meta}

        def write(tmp: Path) -> None:
            tmp.mkdir(parents=True)
            torch.save({k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}, tmp / WEIGHTS_FILE)
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))

        return write_atomically(write, directory)

    @classmethod
    def load(cls, directory: str | os.PathLike[str], device: torch.device | str = "cpu") -> FittedModel:
        tensors, meta = read_model_files(directory, device)
        if meta.get("family") != cls.family:
            raise InputFileError(directory, f"holds a '{meta.get('family')}' model, not '{cls.family}'")
        return check_loaded(cls(tensors, meta), directory)

    # --- what analyses use ---
    @abstractmethod
    def posterior(self, dataset: xr.Dataset) -> xr.Dataset:
        """Per-trial latents and predictions: ``latents (trial, time, latent)`` and
        ``prediction (trial, time, channel)`` (expected data per bin, in the data's units).

        Optional variables the analysis uses when present: ``prediction_<name> (trial, time,
        channel)``, a further readout of the same data (scored on the held-out channels as
        ``<name>_co_bps`` or ``<name>_r2_heldout``); ``expansion_points (trial, time, latent)``, the
        states around which the model linearises its own map at each step (analysed by
        :func:`neurodyn.analysis.evaluate.expansion_step`). Anything else is the family's own,
        for its :meth:`diagnostics`."""

    @abstractmethod
    def sample(self, n_trials: int, n_steps: int, inputs: torch.Tensor | None = None, seed: int = 0) -> xr.Dataset:
        """Free-running generated trials: ``latents``, ``prediction`` and ``data``
        (trial, time, ·); inputs: (n_trials, n_steps, input_dim) when the model is conditioned."""

    @abstractmethod
    def dynamics(self) -> Dynamics:
        """The latent map, for fixed-point and spectral analyses."""

    def training_curves(self) -> dict[str, Any]:
        """The fit's training curves, for reports: ``{"x": name of the x axis (e.g. "epoch"),
        "steps": [x values], "series": {label (with its unit or meaning): [value or None per
        step]}, "higher_is_better": {label: bool}}`` — the latter only for series that are scores
        (not for, e.g., the learning rate); ``{}`` for a family without iterative training."""
        return {}

    def diagnostics(self, posterior: xr.Dataset, fixed_points: np.ndarray) -> dict[str, Any]:
        """Metrics only this family has (declared in ``diagnostic_metrics``), from its posterior on
        the evaluation trials and the fixed points (P, latent) the analysis found; none by default."""
        return {}

    @property
    def device(self) -> torch.device:
        return next(iter(self.tensors.values())).device

    def check_channels(self, dataset: xr.Dataset) -> None:
        """Raise unless ``dataset`` has the channels the model was fitted on, in order."""
        channels = [str(c) for c in dataset["channel"].values.tolist()]
        if channels != self.meta["channels"]:
            fitted = f"the model at {self.source}" if self.source is not None else "the model"
            raise DatasetContractError(
                f"dataset channels differ from those {fitted} was fitted on "
                f"({len(channels)} in the dataset, {len(self.meta['channels'])} in the model)"
            )


def training_curves_from(
    x: str,
    rows: list[list[float]] | list[tuple[float, ...]],
    columns: dict[int, tuple[str, bool | None, str]],
) -> dict[str, Any]:
    """:meth:`FittedModel.training_curves` from a table of per-step records: ``rows`` (step, value,
    ...) with the x value first; ``columns`` maps a column index to (a short label, higher is
    better or None for a series without a direction, a sentence defining it). Columns missing from
    a row (older fits) and non-finite values become None; a series with no value at all is left out."""
    if not rows:
        return {}

    def value(row, i: int) -> float | None:
        v = row[i] if i < len(row) else None
        return float(v) if v is not None and np.isfinite(v) else None

    out: dict[str, Any] = {
        "x": x,
        "steps": [int(row[0]) for row in rows],
        "series": {},
        "higher_is_better": {},
        "definitions": {},
    }
    for i, (label, higher, definition) in columns.items():
        values = [value(row, i) for row in rows]
        if any(v is not None for v in values):
            out["series"][label] = values
            out["definitions"][label] = definition
            if higher is not None:
                out["higher_is_better"][label] = higher
    return out


def pad_history(rows: list[list[float]], width: int) -> list[list[float]]:
    """Rows of a per-epoch history padded with NaN to ``width`` columns: a checkpoint written
    before a column was added resumes into the wider history."""
    return [list(row) + [float("nan")] * (width - len(row)) for row in rows]


def utc_now() -> str:
    """The current time, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def resume_record(state: dict[str, Any], path: Path, progress: int, unit: str = "epoch") -> list[dict[str, Any]]:
    """The resume history of a fit resumed from the checkpoint at ``path``: the resumes the
    checkpoint carries (``state["resumes"]``; none in checkpoints written before it was kept) and
    this one — ``{"checkpoint": file name, "epoch": the progress it continued from (epochs, or
    the ``unit`` given), "unit": unit, "at": UTC time}``. A family stores the list in its later
    checkpoints (``"resumes"``) and in ``meta["fit"]["resumes"]``."""
    earlier = state.get("resumes")
    kept = [dict(e) for e in earlier if isinstance(e, dict)] if isinstance(earlier, list) else []
    return [*kept, {"checkpoint": path.name, "epoch": int(progress), "unit": unit, "at": utc_now()}]


def latent_dataset(
    z: torch.Tensor, pred: torch.Tensor, trials, times, channels, kind: str, data: torch.Tensor | None = None
) -> xr.Dataset:
    """What ``posterior`` and ``sample`` return: ``latents (trial, time, latent)``,
    ``prediction (trial, time, channel)`` and, for samples, ``data`` (uint32 counts or float32)."""
    units = "count" if kind == "counts" else "signal units"
    out = xr.Dataset(
        {
            "latents": (
                ("trial", "time", "latent"),
                z.detach().cpu().double().numpy(),
                {"units": "a.u.", "long_name": "latent state"},
            ),
            "prediction": (
                ("trial", "time", "channel"),
                pred.detach().cpu().double().numpy(),
                {"units": units, "long_name": "expected observation per bin"},
            ),
        },
        coords={
            "trial": np.asarray(trials),
            "time": np.asarray(times),
            "channel": np.asarray(channels),
            "latent": np.arange(z.shape[-1]),
        },
    )
    if data is not None:
        out["data"] = (
            ("trial", "time", "channel"),
            data.detach().cpu().numpy().astype(np.uint32 if kind == "counts" else np.float32),
        )
    return out


class StoredEntries(dict):
    """A mapping read from a user's file (a saved model's tensors or metadata, a checkpoint): a
    missing entry raises InputFileError naming the file and the entry, not a bare KeyError."""

    origin: str = "?"
    what: str = "entry"
    prefix: str = ""
    note: str = ""

    def __missing__(self, key: Any) -> Any:
        raise InputFileError(self.origin, f"lacks the {self.what} '{self.prefix}{key}'{self.note}")


def stored_entries(mapping: dict, origin: str | os.PathLike[str], what: str, prefix: str = "") -> StoredEntries:
    """``mapping`` as :class:`StoredEntries`; nested plain dicts too (their entries named ``outer.inner``)."""
    out = StoredEntries(
        {k: stored_entries(v, origin, what, f"{prefix}{k}.") if type(v) is dict else v for k, v in mapping.items()}
    )
    out.origin, out.what, out.prefix = str(origin), what, prefix
    return out


def torch_problem(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in our words: PyTorch's own advice (to load
    with ``weights_only=False``, which would run arbitrary code from the file) is never passed on."""
    if isinstance(exc, pickle.UnpicklingError):
        return "holds objects other than tensors and plain containers; refusing to unpickle them"
    if isinstance(exc, PermissionError | IsADirectoryError | FileNotFoundError):
        return f"cannot be read ({exc.strerror})"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if "weights_only" in text or "pickle" in text.lower():
        text = ""
    return "is not a PyTorch file torch.load can read" + f" ({type(exc).__name__}{': ' + text if text else ''})"


REQUIRED_META = {
    "channels": "a non-empty list of channel names",
    "heldin_index": "a list of channel indices",
    "bin_size_s": "a positive number of seconds",
    "kind": "'counts' or 'continuous'",
    "config": "a mapping of the family's options",
    "inputs": "a list of input names",
}


def _check_meta(meta: dict[str, Any], meta_path: Path) -> None:
    """Raise InputFileError naming ``model.json`` and the key unless ``meta`` has what every
    family's model needs (see ``REQUIRED_META``)."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise InputFileError(meta_path, f"lacks the key '{missing[0]}' ({REQUIRED_META[missing[0]]})")
    channels, heldin = meta["channels"], meta["heldin_index"]
    size = meta["bin_size_s"]
    ok = {
        "channels": isinstance(channels, list) and bool(channels) and all(isinstance(c, str) for c in channels),
        "heldin_index": isinstance(heldin, list)
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(channels) for i in heldin),
        "bin_size_s": isinstance(size, int | float) and not isinstance(size, bool) and 0 < size < float("inf"),
        "kind": meta["kind"] in ("counts", "continuous"),
        "config": isinstance(meta["config"], dict),
        "inputs": isinstance(meta["inputs"], list),
    }
    for key, good in ok.items():
        if not good:
            raise InputFileError(meta_path, f"key '{key}' must be {REQUIRED_META[key]}, got {meta[key]!r:.80}")


def read_model_files(directory: str | os.PathLike[str], device: torch.device | str = "cpu"):
    """Weights (tensors only, ``weights_only=True``) and metadata of a saved model, checked: both
    files present and readable, ``model.json`` a JSON object naming a family with the keys every
    model needs, ``weights.pt`` a flat dict of finite tensors. Every problem raises InputFileError
    naming the file. The mappings returned are :class:`StoredEntries`."""
    directory = Path(directory)
    meta_path, weights_path = directory / META_FILE, directory / WEIGHTS_FILE
    if not meta_path.is_file() or not weights_path.is_file():
        raise InputFileError(directory, f"not a saved model (needs {META_FILE} and {WEIGHTS_FILE})")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(meta_path, f"cannot be read ({type(exc).__name__}: {exc})")
    except ValueError as exc:
        raise InputFileError(meta_path, f"is not valid JSON ({exc})")
    if not isinstance(meta, dict):
        raise InputFileError(meta_path, f"must hold a JSON object, got a {type(meta).__name__}")
    if not isinstance(meta.get("family"), str):
        raise InputFileError(meta_path, "lacks the key 'family' (the model family's name)")
    _check_meta(meta, meta_path)
    tensors = load_tensors(weights_path, device, "saved model's weights")
    if not isinstance(tensors, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in tensors.items()
    ):
        raise InputFileError(weights_path, "must hold a flat dict of named tensors")
    if not tensors:
        raise InputFileError(weights_path, "holds no tensors")
    for name, value in tensors.items():
        if value.is_floating_point() or value.is_complex():
            bad = int((~torch.isfinite(value)).sum())
            if bad:
                raise InputFileError(
                    weights_path, f"tensor '{name}' has {bad} NaN or infinite value(s) of {value.numel()}"
                )
    tensors = stored_entries(tensors, weights_path, "tensor")
    tensors.note = f" that a '{meta['family']}' model needs (the family {META_FILE} names)"
    return tensors, stored_entries(meta, meta_path, "key")


def check_loaded(model: FittedModel, directory: str | os.PathLike[str]) -> FittedModel:
    """Build the model's latent map and draw one short free run, so that tensors missing or of
    shapes that do not fit together are reported now, as an InputFileError naming the model's
    ``weights.pt``, rather than as an error deep inside an analysis."""
    model.source = Path(directory)
    # building a family's network draws initial weights from torch's global generators: keep them
    devices = [model.device] if model.device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            model.dynamics()
            model.sample(1, 2, seed=0)
    except (RuntimeError, IndexError, ValueError, TypeError, AttributeError, KeyError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise InputFileError(
            Path(directory) / WEIGHTS_FILE,
            f"its tensors do not make a '{model.family}' model with the shapes model.json gives "
            f"({type(exc).__name__}: {text})",
        ) from None
    return model


def checkpoint_fingerprint(
    cfg: dict[str, Any], meta: dict[str, Any], seed: int, *, ignore: tuple[str, ...] = ()
) -> str:
    """What a checkpoint must share with the fit that resumes it: the options that change training
    (all of ``cfg`` but ``ignore``), the channels, the number of training trials and the seed."""
    relevant = {
        "config": {k: v for k, v in cfg.items() if k not in ignore},
        "channels": meta["channels"],
        "n_train_trials": meta["n_train_trials"],
        "seed": seed,
    }
    return config_hash(relevant)[:16]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint (tensors and plain containers only) atomically."""
    state = dict(state)
    fp = state.pop("fingerprint")
    # the fingerprint travels as a tensor of bytes so the file holds tensors and plain containers only
    state["fingerprint"] = torch.tensor(list(fp.encode()), dtype=torch.uint8)

    def write(tmp: Path) -> None:
        torch.save(state, tmp)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(write, path)


def load_tensors(path: Path, device: torch.device | str, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers, never other objects;
    an unreadable file (missing, corrupt, holding other objects) raises InputFileError naming it
    and ``what`` it should be."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # noqa: BLE001 — any unreadable file is reported the same way
        raise InputFileError(path, f"{torch_problem(exc)}; expected a {what}") from None


def load_checkpoint(path: Path, device: torch.device | str) -> StoredEntries:
    """Read a checkpoint with ``weights_only=True``; a file that is unreadable, not a dict or
    without its fingerprint raises InputFileError. Missing entries raise it when used."""
    state = load_tensors(path, device)
    if not isinstance(state, dict):
        raise InputFileError(path, f"is not a neurodyn checkpoint (holds a {type(state).__name__}, not a dict)")
    fingerprint = state.get("fingerprint")
    if not isinstance(fingerprint, torch.Tensor) or fingerprint.dtype != torch.uint8 or fingerprint.ndim != 1:
        raise InputFileError(path, "is not a neurodyn checkpoint (it has no fingerprint of the fit it belongs to)")
    try:
        state["fingerprint"] = bytes(fingerprint.tolist()).decode()
    except UnicodeDecodeError:
        raise InputFileError(path, "is not a neurodyn checkpoint (its fingerprint is not text)") from None
    return stored_entries(state, path, "checkpoint entry")


def checked_progress(path: Path, done: Any, configured: int, unit: str = "epoch") -> int:
    """The progress a checkpoint claims (``done`` epochs, say), refused with InputFileError unless a
    whole number in [0, ``configured``]: a fit resumed past its end would be saved untrained."""
    value = done.item() if isinstance(done, torch.Tensor) and done.numel() == 1 else done
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= configured:
        raise InputFileError(
            path,
            f"claims {unit} {value!r}, outside the {configured} {unit}s this fit is configured for; "
            "refusing to resume from it (delete it, or fit without --resume to train afresh)",
        )
    return value


def restore_into(path: Path, restore: Callable[[], Any]) -> None:
    """Call ``restore`` (loading a checkpoint's states into the network, optimiser, ...); a
    checkpoint whose entries do not fit raises InputFileError naming it."""
    try:
        restore()
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        text = " ".join(str(exc).split())[:240]
        raise InputFileError(path, f"does not fit this model ({type(exc).__name__}: {text})") from None


def resume_training(
    path: Path | None,
    fingerprint: str,
    family: str,
    device: torch.device | str,
    *,
    net: torch.nn.Module,
    optimizer,
    scheduler,
    generator: torch.Generator,
    epochs: int,
) -> dict[str, Any] | None:
    """Restore ``net``, ``optimizer``, ``scheduler`` and ``generator`` from the checkpoint at ``path``
    when it exists and belongs to this fit (same ``fingerprint``); return its state for the
    family's own extras (epoch, history, ...) with ``resumes`` the resume history so far
    (:func:`resume_record`, this resume last), or None to start afresh. A checkpoint that is not
    one, claims more than the ``epochs`` configured or does not fit the network is refused
    (InputFileError naming it)."""
    import logging

    if path is None or not path.is_file():
        return None
    state = load_checkpoint(path, device)
    log = logging.getLogger(f"neurodyn.models.{family}")
    if state["fingerprint"] != fingerprint:
        log.warning("%s: checkpoint %s is from another configuration; starting afresh", family, path)
        return None
    epoch = checked_progress(path, state["epoch"], epochs)

    def restore() -> None:
        net.load_state_dict(state["net"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].cpu())

    restore_into(path, restore)
    state["epoch"] = epoch
    state["resumes"] = resume_record(state, path, epoch)
    log.info("%s: resumed from %s at epoch %d", family, path, epoch)
    return state
