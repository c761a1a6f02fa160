"""Storage helpers every layer shares: atomic writes, content hashes and string columns.

An output is written to a temporary path beside its final one and renamed into place, so a
failed or killed step never leaves a partial file under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr


def file_sha256(path: str | os.PathLike[str], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(write, final_path: str | os.PathLike[str]) -> Path:
    """Call ``write(tmp_path)`` then move the result to ``final_path``.

    The temporary path sits next to the final one (same filesystem, so the rename is atomic); on
    any error it is removed and nothing is left under ``final_path``. An existing output is only
    replaced after the new one is complete.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    old = final.with_name(f"{final.name}.old-{os.getpid()}")
    _remove(tmp)
    try:
        write(tmp)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        if old.exists() and not final.exists():
            os.replace(old, final)
        raise
    _remove(old)
    return final


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def config_hash(config: Any) -> str:
    """SHA-256 of a JSON-serialisable configuration in canonical form (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented JSON with sorted keys, atomically."""
    return write_atomically(lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True)), path)


# --- string columns in zarr v3 -----------------------------------------------------------------


def object_strings(values) -> np.ndarray:
    """Labels as an object array of str: zarr v3 stores it as variable-length UTF-8 (a registered
    data type, unlike fixed-width unicode)."""
    return np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)


def strings_as_objects(ds: xr.Dataset) -> xr.Dataset:
    """Convert variable-length string variables (read back as numpy StringDType) to object
    arrays of ``str``, which every numpy and xarray operation accepts."""
    converted = {
        name: var.copy(data=np.asarray(var.values.tolist(), dtype=object))
        for name, var in ds.variables.items()
        if isinstance(var.dtype, np.dtypes.StringDType)
    }
    return ds.assign_coords({k: v for k, v in converted.items() if k in ds.coords}).assign(
        {k: v for k, v in converted.items() if k not in ds.coords}
    )
