"""Storage helpers every layer shares: atomic writes, content hashes and string columns.

An output is written to a temporary path beside its final one and renamed into place, so a
failed or killed step never leaves a partial file under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
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
    replaced after the new one is complete. What a killed writer left beside ``final_path`` (its
    temporary, or the previous output it had moved aside) is cleaned up first: see
    :func:`recover_interrupted`.
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted(final)
    tag = _writer_tag()
    tmp = final.with_name(f"{final.name}.tmp-{tag}")
    old = final.with_name(f"{final.name}.old-{tag}")
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


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname()) or "host"


def _writer_tag() -> str:
    """``<host>-<pid>``: names a writer's temporaries, so that only this machine's dead writers'
    leftovers are ever removed (a shared file system may hold another node's live ones)."""
    return f"{_host()}-{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def recover_interrupted(final_path: str | os.PathLike[str]) -> list[Path]:
    """Clean up after writers of ``final_path`` on this machine that were killed mid-write
    (``kill -9``, power loss): their temporaries are removed, and a previous output a writer had
    moved aside just before it died is put back when nothing has replaced it. Returns what was
    removed or restored. Leftovers of live writers and of other machines are left alone."""
    final = Path(final_path)
    pattern = re.escape(final.name) + r"\.(tmp|old)-" + re.escape(_host()) + r"-(\d+)"
    touched = []
    if not final.parent.is_dir():
        return touched
    for leftover in sorted(final.parent.iterdir()):
        match = re.fullmatch(pattern, leftover.name)
        if match is None or _alive(int(match.group(2))) or int(match.group(2)) == os.getpid():
            continue
        if match.group(1) == "old" and not final.exists():
            os.replace(leftover, final)  # the writer died between moving the old output aside and renaming
        else:
            _remove(leftover)
        touched.append(leftover)
    return touched


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
