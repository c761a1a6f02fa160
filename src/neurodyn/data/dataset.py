"""The binned dataset: the contract between ingest and every later stage.

One zarr v3 store per dataset, opened as an :class:`xarray.Dataset` with

* ``data (trial, time, channel)``: spike counts (unsigned ints, attr ``kind="counts"``) or a
  continuous signal (float32, ``kind="continuous"``);
* coordinates ``trial`` (int ids), ``time`` (seconds from the alignment event, bin centres),
  ``channel`` (unit / electrode ids) with per-channel ``heldout`` (bool) and, where known,
  ``location``; per-trial ``align_time`` (absolute seconds) and event times relative to alignment;
* ``split (trial)`` in {train, valid, test}; ``condition (trial)`` where known;
* ``mask (trial, time, channel)`` — True where the bin was observed;
* optional ``inputs (trial, time, input)`` and ``behavior (trial, time, behavior_var)`` (xarray
  cannot name a dimension like a data variable, hence ``behavior_var``);
* attrs ``bin_size_s``, ``align_event``, ``source``, ``source_sha256``, ``created_by``,
  ``config_hash``; ``units`` and ``long_name`` on every variable (CF conventions: ``1`` for a
  dimensionless quantity, ids and labels; a signal z-scored per channel has units ``1`` and names
  ``channel_mean`` / ``channel_std``, in the signal's units, as its ``ancillary_variables``).

Stores carry consolidated metadata and keep strings as variable-length UTF-8; they are read back
as plain numpy ``str`` arrays (:func:`neurodyn.storage.open_store`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn.data.trials import SPLITS
from neurodyn.errors import DatasetContractError, InputFileError
from neurodyn.storage import open_store, text_array, write_store
from neurodyn.version import __version__

KINDS = ("counts", "continuous")
REQUIRED_ATTRS = ("bin_size_s", "align_event", "source", "source_sha256", "created_by", "config_hash")
CHUNK_BYTES = 8 << 20


def _var(dims, values, units: str, long_name: str, **attrs) -> xr.Variable:
    return xr.Variable(dims, values, attrs={"units": units, "long_name": long_name, **attrs})


# ``data_units`` that marks a continuous signal z-scored per channel (see :func:`describe_zscore`)
ZSCORED = "z"


def _data_description(kind: str, data_units: str) -> tuple[str, str]:
    """(units, long_name) of ``data``."""
    if kind == "counts":
        return data_units, "spike count"
    if data_units == ZSCORED:
        return "1", "signal z-score per channel: (x - channel_mean) / channel_std"
    return data_units, "signal"


def describe_zscore(ds: xr.Dataset, signal_units: str) -> xr.Dataset:
    """State that ``data`` is a per-channel z-score of a signal in ``signal_units``: ``data`` in
    units ``1`` (CF's dimensionless unit) naming ``channel_mean`` and ``channel_std`` as its
    ``ancillary_variables``, and those two in the signal's units."""
    ds = ds.copy()
    ds["data"].attrs.update(
        units="1",
        long_name="signal z-score per channel: (x - channel_mean) / channel_std",
        ancillary_variables="channel_mean channel_std",
    )
    for name, what in (("channel_mean", "mean"), ("channel_std", "standard deviation")):
        if name in ds.variables:
            ds[name].attrs.update(units=signal_units, long_name=f"channel {what} of the signal before z-scoring")
    return ds


def build_dataset(
    *,
    data: np.ndarray,
    kind: str,
    data_units: str,
    time: np.ndarray,
    trial_ids: np.ndarray,
    channel_ids: np.ndarray,
    heldout: np.ndarray,
    split: np.ndarray,
    mask: np.ndarray,
    align_times: np.ndarray,
    attrs: dict[str, Any],
    channel_coords: dict[str, np.ndarray] | None = None,
    trial_coords: dict[str, np.ndarray] | None = None,
    conditions: np.ndarray | None = None,
    inputs: tuple[np.ndarray, list[str]] | None = None,
    behavior: tuple[np.ndarray, list[str]] | None = None,
    extra_vars: dict[str, xr.Variable] | None = None,
    validate: bool = True,
) -> xr.Dataset:
    """Assemble a contract-conforming dataset.

    data: (trial, time, channel); time: (time,) s; trial_ids: (trial,); channel_ids: (channel,);
    heldout: (channel,) bool; split: (trial,) labels; mask: (trial, time, channel) bool;
    align_times: (trial,) absolute s; inputs / behavior: ((trial, time, k) values, k names).
    """
    coords: dict[str, xr.Variable] = {
        "trial": _var("trial", np.asarray(trial_ids, dtype=np.int64), "1", "trial id"),
        "time": _var(
            "time",
            np.asarray(time, dtype=np.float64),
            "s",
            f"bin centre relative to {attrs.get('align_event', 'alignment')}",
        ),
        "channel": _var("channel", np.asarray(channel_ids), "1", "channel id"),
        "heldout": _var(
            "channel", np.asarray(heldout, dtype=bool), "1", "held out: predicted from other channels, never encoded"
        ),
        "align_time": _var(
            "trial",
            np.asarray(align_times, dtype=np.float64),
            "s",
            "absolute time of the alignment event in the recording",
        ),
    }
    for name, values in (channel_coords or {}).items():
        values = np.asarray(values)
        coords[name] = _var(
            "channel", text_array(values) if values.dtype.kind in "USOT" else values, "1", name.replace("_", " ")
        )
    for name, values in (trial_coords or {}).items():
        values = np.asarray(values)
        if name.endswith("_time") and values.dtype.kind == "f":
            coords[name] = _var("trial", values, "s", f"{name.replace('_', ' ')} relative to alignment")
        else:
            coords[name] = _var(
                "trial", text_array(values) if values.dtype.kind in "USOT" else values, "1", name.replace("_", " ")
            )
    data_vars: dict[str, xr.Variable] = {
        "data": _var(("trial", "time", "channel"), data, *_data_description(kind, data_units), kind=kind),
        "split": _var("trial", text_array(split), "1", "data split (train, valid or test)"),
        "mask": _var(
            ("trial", "time", "channel"),
            np.asarray(mask, dtype=bool),
            "1",
            "bin observed (inside the channel's observation intervals)",
        ),
    }
    if conditions is not None:
        data_vars["condition"] = _var("trial", text_array(conditions), "1", "condition label")
    for name, block in (("inputs", inputs), ("behavior", behavior)):
        if block is not None and block[0].shape[-1] > 0:
            values, names = block
            dim = "input" if name == "inputs" else "behavior_var"
            coords[dim] = _var(dim, text_array(names), "1", f"{dim.replace('_var', '')} name")
            data_vars[name] = _var(
                ("trial", "time", dim),
                values.astype(np.float32),
                "a.u.",
                "conditioning input" if name == "inputs" else "behavioural variable",
            )
    data_vars.update(extra_vars or {})
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs.update({"created_by": f"neurodyn {__version__}", **attrs})
    if validate:
        validate_dataset(ds)
    return ds


def validate_dataset(ds: xr.Dataset, name: str = "dataset") -> None:
    """Raise :class:`DatasetContractError` naming the first contract violation found."""

    def fail(problem: str):
        raise DatasetContractError(f"{name}: {problem}")

    if "data" not in ds:
        fail("has no 'data' variable")
    data = ds["data"]
    if data.dims != ("trial", "time", "channel"):
        fail(f"'data' has dims {data.dims}, expected ('trial', 'time', 'channel')")
    if 0 in data.shape:
        fail(f"'data' is empty (shape {data.shape})")
    kind = data.attrs.get("kind")
    if kind not in KINDS:
        fail(f"'data' attr kind={kind!r}, expected one of {KINDS}")
    if kind == "counts" and data.dtype.kind != "u":
        fail(f"counts must be unsigned integers, got {data.dtype}")
    if kind == "continuous" and data.dtype != np.float32:
        fail(f"continuous data must be float32, got {data.dtype}")
    for coord in ("trial", "time", "channel", "heldout"):
        if coord not in ds.coords:
            fail(f"lacks the coordinate '{coord}'")
    time = ds["time"].values
    if time.size > 1 and not np.all(np.diff(time) > 0):
        fail("'time' is not strictly increasing")
    if ds["heldout"].dtype != bool:
        fail("'heldout' must be boolean")
    if "split" not in ds or ds["split"].dims != ("trial",):
        fail("lacks 'split (trial)'")
    splits = {str(v) for v in np.asarray(ds["split"].values).tolist()}
    if not splits <= set(SPLITS):
        fail(f"'split' holds {sorted(splits - set(SPLITS))}, expected {SPLITS}")
    if "train" not in splits:
        fail("has no training trials")
    if "mask" in ds and (ds["mask"].dims != data.dims or ds["mask"].dtype != bool):
        fail("'mask' must be boolean with the dims of 'data'")
    for var, dim in (("inputs", "input"), ("behavior", "behavior_var")):
        if var in ds and ds[var].dims != ("trial", "time", dim):
            fail(f"'{var}' has dims {ds[var].dims}, expected ('trial', 'time', '{dim}')")
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        fail(f"lacks the attrs {missing}")
    for var_name, var in ds.variables.items():
        for attr in ("units", "long_name"):
            if attr not in var.attrs:
                fail(f"variable '{var_name}' lacks the attr '{attr}'")


def dataset_encoding(ds: xr.Dataset, trials_per_chunk: int | None = None) -> dict[str, dict]:
    """Chunk (trial, time, ·) variables trial-major, about CHUNK_BYTES per chunk (never more
    trials per chunk than ``trials_per_chunk``, so appended blocks start on chunk boundaries)."""
    encoding = {}
    for name, var in ds.data_vars.items():
        if var.dims[:1] == ("trial",) and var.ndim == 3:
            per_trial = max(1, int(np.prod(var.shape[1:])) * var.dtype.itemsize)
            n = max(1, min(var.shape[0], CHUNK_BYTES // per_trial))
            if trials_per_chunk:
                n = max(1, min(n, trials_per_chunk))
                n = next(k for k in range(n, 0, -1) if trials_per_chunk % k == 0)
            encoding[name] = {"chunks": (n,) + var.shape[1:]}
    return encoding


def write_dataset(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Validate, then write a zarr v3 store with consolidated metadata atomically (a temporary
    store renamed into place)."""
    validate_dataset(ds, str(path))
    return write_store(ds, path, encoding=dataset_encoding(ds))


def open_dataset(path: str | os.PathLike[str], *, load: bool = True, validate: bool = True) -> xr.Dataset:
    """Open a binned dataset store and check it against the contract."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(path, "no such dataset store")
    try:
        ds = open_store(path, load=load)
    except Exception as exc:
        raise InputFileError(path, f"not a readable zarr v3 store ({type(exc).__name__}: {exc})")
    if validate:
        validate_dataset(ds, str(path))
    return ds


def trial_blocks(n_trials: int, bytes_per_trial: int, block_bytes: int = 256 << 20) -> list[slice]:
    """Consecutive trial slices of at most ``block_bytes`` (at least one trial each)."""
    per_block = max(1, int(block_bytes // max(bytes_per_trial, 1)))
    return [slice(i, min(i + per_block, n_trials)) for i in range(0, n_trials, per_block)]


def combine_moments(moments: tuple[int, Any, Any], block: np.ndarray) -> tuple[int, Any, Any]:
    """Fold a block into running (count, mean, sum of squared deviations) per column
    (pairwise update of Chan, Golub & LeVeque 1979). block: (sample, column)."""
    count, mean, m2 = moments
    n_b = block.shape[0]
    if n_b == 0:
        return moments
    mean_b = block.mean(axis=0)
    m2_b = ((block - mean_b) ** 2).sum(axis=0)
    delta = mean_b - mean
    n = count + n_b
    return n, mean + delta * n_b / n, m2 + m2_b + delta**2 * count * n_b / n


def summary(ds: xr.Dataset) -> dict[str, Any]:
    """A small JSON-able description of a dataset (used by ``neurodyn info`` and reports)."""
    data = ds["data"]
    splits = np.asarray([str(v) for v in ds["split"].values.tolist()])
    out: dict[str, Any] = {
        "kind": data.attrs["kind"],
        "n_trials": int(ds.sizes["trial"]),
        "n_time_bins": int(ds.sizes["time"]),
        "n_channels": int(ds.sizes["channel"]),
        "n_heldout_channels": int(ds["heldout"].values.sum()),
        "bin_size_s": float(ds.attrs["bin_size_s"]),
        "window_s": [
            float(ds["time"].values[0] - ds.attrs["bin_size_s"] / 2),
            float(ds["time"].values[-1] + ds.attrs["bin_size_s"] / 2),
        ],
        "align_event": ds.attrs["align_event"],
        "splits": {s: int((splits == s).sum()) for s in SPLITS},
        "source": ds.attrs["source"],
        "source_sha256": ds.attrs["source_sha256"],
        "created_by": ds.attrs["created_by"],
        "config_hash": ds.attrs["config_hash"],
    }
    # reduce trial block by block, so a lazily opened store is never loaded whole
    n_channels = out["n_channels"]
    observed_bins = np.zeros(n_channels)
    observed_sum = np.zeros(n_channels)
    total = spikes = 0
    moments = (0, 0.0, 0.0)
    for block in trial_blocks(ds.sizes["trial"], ds.sizes["time"] * n_channels * 9):
        values = data[block].values
        observed = ds["mask"][block].values if "mask" in ds else np.ones(values.shape, bool)
        observed_bins += observed.sum(axis=(0, 1))
        observed_sum += np.where(observed, values, 0).sum(axis=(0, 1), dtype=np.float64)
        total += values.size
        if out["kind"] == "counts":
            spikes += int(values.sum(dtype=np.int64))
        else:
            moments = combine_moments(moments, values.reshape(-1, 1).astype(np.float64))
    out["fraction_observed"] = float(observed_bins.sum() / total)
    if out["kind"] == "counts":
        duration = observed_bins * out["bin_size_s"]
        rates = np.where(duration > 0, observed_sum / np.maximum(duration, 1e-12), 0.0)
        out["total_spikes"] = spikes
        out["mean_rate_hz"] = float(rates.mean())
        out["median_rate_hz"] = float(np.median(rates))
    else:
        out["units"] = data.attrs.get("units", "")
        out["mean"] = float(moments[1][0])
        out["std"] = float(np.sqrt(moments[2][0] / moments[0]))
    if "condition" in ds:
        out["n_conditions"] = len({str(v) for v in ds["condition"].values.tolist()})
    for var in ("inputs", "behavior"):
        if var in ds:
            out[var] = [str(v) for v in ds[var][ds[var].dims[2]].values]
    return out
