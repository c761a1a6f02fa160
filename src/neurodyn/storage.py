"""Storage helpers every layer shares: atomic writes, content hashes and zarr v3 stores.

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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from neurodyn.errors import InputFileError


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
    any error it is removed, and so are the folders this call created for it: nothing is left
    under ``final_path``. An existing output is only replaced after the new one is complete, and
    only by one of its own kind (a file by a file, a folder by a folder): a folder where a file is
    to go (or the reverse) is refused, never removed. What a killed writer left beside
    ``final_path`` (its temporary, or the previous output it had moved aside) is cleaned up first:
    see :func:`recover_interrupted`.
    """
    final = Path(final_path)
    created = [p for p in (final.parent, *final.parent.parents) if not p.exists()]
    final.parent.mkdir(parents=True, exist_ok=True)
    recover_interrupted(final)
    tag = _writer_tag()
    tmp = final.with_name(f"{final.name}.tmp-{tag}")
    old = final.with_name(f"{final.name}.old-{tag}")
    _remove(tmp)
    try:
        write(tmp)
        if final.exists():
            if final.is_dir() != tmp.is_dir():
                what = "a folder" if final.is_dir() else "a file"
                raise InputFileError(
                    final, f"is {what}; refusing to replace it with {'a folder' if tmp.is_dir() else 'a file'}"
                )
            os.replace(final, old)
        os.replace(tmp, final)
    except BaseException:
        _remove(tmp)
        if old.exists() and not final.exists():
            os.replace(old, final)
        for folder in created:  # deepest first; only those still empty
            try:
                folder.rmdir()
            except OSError:
                break
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


def read_json(path: str | os.PathLike[str], expected: type = dict, what: str = "a JSON object") -> Any:
    """A user's JSON file, InputFileError naming it when missing, unreadable, not JSON or not of
    the ``expected`` type (described as ``what``)."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "cannot be read: it is a folder" if path.is_dir() else "no such file")
    try:
        payload = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(path, f"cannot be read ({type(exc).__name__}: {exc})") from None
    except ValueError as exc:
        raise InputFileError(path, f"is not valid JSON ({exc})") from None
    if not isinstance(payload, expected):
        raise InputFileError(path, f"must hold {what}, got a {type(payload).__name__}")
    return payload


# --- zarr v3 stores: consolidated metadata and string columns -----------------------------------
#
# Strings are plain numpy ``str`` arrays (``<U``) in memory and variable-length UTF-8 (zarr v3's
# ``string`` data type) on disk: a fixed-width unicode array would be written as zarr-python's
# ``fixed_length_utf32``, which has no v3 specification. zarr-python and xarray read the
# ``string`` type back as numpy ``StringDType``; :func:`open_store` turns it into ``str`` again.
#
# Every store carries consolidated metadata, so that ``xr.open_zarr(path)`` opens it with one
# read and without a warning. zarr-python warns when it writes it that consolidated metadata is
# not yet part of the v3 specification; that warning is expected here and silenced where the
# metadata is written (:func:`consolidate_store`), nowhere else.


def object_strings(values) -> np.ndarray:
    """Labels as an object array of str: how zarr v3 stores them as variable-length UTF-8 (a
    registered data type, unlike fixed-width unicode)."""
    return np.asarray([str(v) for v in np.asarray(values).tolist()], dtype=object)


def text_array(values) -> np.ndarray:
    """Labels as a plain numpy ``str`` array (``<U``), shape kept."""
    values = np.asarray(values)
    return np.asarray([str(v) for v in values.ravel().tolist()], dtype=str).reshape(values.shape)


def _is_text(values: np.ndarray) -> bool:
    if values.dtype.kind in "UT":
        return True
    return values.dtype.kind == "O" and all(isinstance(v, str) for v in values.ravel().tolist())


def plain_strings(ds: xr.Dataset) -> xr.Dataset:
    """Turn every string variable (numpy ``StringDType`` as read from zarr v3, or objects that are
    all ``str``) into a plain numpy ``str`` array; other variables are left as they are (lazy ones
    stay lazy)."""
    converted = {
        name: var.copy(data=text_array(var.values))
        for name, var in ds.variables.items()
        if var.dtype.kind in "TO" and _is_text(var.values)
    }
    return _replace_variables(ds, converted)


def strings_as_objects(ds: xr.Dataset) -> xr.Dataset:
    """Turn every string variable into an object array of ``str``: what :func:`write_store` hands
    to zarr (variable-length UTF-8)."""
    converted = {
        name: var.copy(data=object_strings(var.values))
        for name, var in ds.variables.items()
        if var.dtype.kind in "UT" or (var.dtype.kind == "O" and _is_text(var.values))
    }
    return _replace_variables(ds, converted)


def _replace_variables(ds: xr.Dataset, converted: dict[str, xr.Variable]) -> xr.Dataset:
    if not converted:
        return ds
    return ds.assign_coords({k: v for k, v in converted.items() if k in ds.coords}).assign(
        {k: v for k, v in converted.items() if k not in ds.coords}
    )


def consolidate_store(path: str | os.PathLike[str]) -> None:
    """Write the consolidated metadata of a zarr v3 store (after its last array was written)."""
    import zarr

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Consolidated metadata is currently not part", category=zarr.errors.ZarrUserWarning
        )
        zarr.consolidate_metadata(str(path), zarr_format=3)


def write_store_to(ds: xr.Dataset, path: str | os.PathLike[str], *, encoding: dict[str, dict] | None = None) -> None:
    """Write ``ds`` as a zarr v3 store at ``path`` (strings as variable-length UTF-8, consolidated
    metadata). Not atomic by itself: see :func:`write_store`."""
    strings_as_objects(ds).to_zarr(path, mode="w", zarr_format=3, consolidated=False, encoding=encoding or {})
    consolidate_store(path)


def write_store(ds: xr.Dataset, path: str | os.PathLike[str], *, encoding: dict[str, dict] | None = None) -> Path:
    """Write ``ds`` as a zarr v3 store with consolidated metadata, atomically."""
    return write_atomically(lambda tmp: write_store_to(ds, tmp, encoding=encoding), path)


def has_consolidated_metadata(path: str | os.PathLike[str]) -> bool:
    """Whether a zarr v3 store's root ``zarr.json`` holds consolidated metadata."""
    try:
        root = json.loads((Path(path) / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(root, dict) and root.get("consolidated_metadata") is not None


def open_store(path: str | os.PathLike[str], *, load: bool = True) -> xr.Dataset:
    """Open a zarr v3 store: by its consolidated metadata when it has them (stores written before
    they had are read member by member), strings as plain ``str`` arrays, loaded into memory
    unless ``load=False`` (then only the string variables are read). Errors are zarr's and xarray's."""
    consolidated = has_consolidated_metadata(path)
    with warnings.catch_warnings():
        if not consolidated:  # older stores may hold the workflow's flag files beside their arrays
            warnings.filterwarnings("ignore", message="Object at .* is not recognized as a component of a Zarr")
        ds = xr.open_zarr(path, consolidated=consolidated, zarr_format=3)
        return plain_strings(ds.load() if load else ds)
