"""Manifests: the small file beside a zarr store that says the store is complete.

A workflow rule that writes a store declares the store's manifest as its output, not the store:
Snakemake keeps the modification time of a ``directory()`` output in a ``.snakemake_timestamp``
file inside it, which in a zarr store is a foreign object that every reader warns about. The
stage writes the store (atomically), then the manifest, so the manifest exists only beside a
complete store; later rules take the manifest as input and open the store it names.

``results/spikes/dataset.zarr`` → ``results/spikes/dataset.zarr.manifest.json``::

    {"store": "dataset.zarr", "format": "zarr v3 (consolidated metadata)",
     "created_by": "neurodyn 0.1.0", "config_hash": "...",
     "variables": {"data": {"shape": [40, 50, 20], "data_type": "uint16"}, ...}}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from neurodyn.errors import InputFileError
from neurodyn.storage import write_json
from neurodyn.version import __version__

MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(store: str | os.PathLike[str]) -> Path:
    """The manifest beside a store: ``<store>.manifest.json``."""
    store = Path(store)
    return store.with_name(store.name + MANIFEST_SUFFIX)


def store_path(manifest: str | os.PathLike[str]) -> Path:
    """The store a manifest path stands for (``<store>.manifest.json`` → ``<store>``)."""
    manifest = Path(manifest)
    if not manifest.name.endswith(MANIFEST_SUFFIX) or manifest.name == MANIFEST_SUFFIX:
        raise InputFileError(manifest, f"not a store manifest (its name must end in {MANIFEST_SUFFIX})")
    return manifest.with_name(manifest.name[: -len(MANIFEST_SUFFIX)])


def store_contents(store: str | os.PathLike[str]) -> dict[str, Any]:
    """What a zarr v3 store's consolidated metadata lists: ``variables`` (name → shape and data
    type) and the root attrs ``config_hash`` / ``created_by`` when present."""
    store = Path(store)
    try:
        root = json.loads((store / "zarr.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(store, f"not a zarr v3 store ({type(exc).__name__}: {exc})")
    members = (root.get("consolidated_metadata") or {}).get("metadata")
    if members is None:
        raise InputFileError(store, "has no consolidated metadata (written by an older version?)")
    variables = {
        name: {"shape": meta.get("shape"), "data_type": meta.get("data_type")}
        for name, meta in sorted(members.items())
        if meta.get("node_type") == "array"
    }
    attrs = root.get("attributes") or {}
    return {
        "variables": variables,
        **{key: attrs[key] for key in ("config_hash", "created_by") if key in attrs},
    }


def write_manifest(store: str | os.PathLike[str]) -> Path:
    """Write the manifest of a complete store (atomically); returns its path."""
    store = Path(store)
    payload = {
        "store": store.name,
        "format": "zarr v3 (consolidated metadata)",
        "written_by": f"neurodyn {__version__}",
        **store_contents(store),
    }
    return write_json(payload, manifest_path(store))
