"""Remote sources: NWB files read over HTTP(S) without downloading them, and DANDI assets.

A source path that starts with ``http://`` or ``https://`` is read lazily: h5py reads through a
:class:`remfile.File`, which fetches only the byte ranges HDF5 asks for (HTTP ``Range``
requests), so reading the units and trials of a file that also holds gigabytes of raw
acquisition data transfers little more than the units and trials.

``dandi://<dandiset>/<version>/<path>`` names an asset of a DANDI archive (e.g.
``dandi://000006/0.220126.1855/sub-anm369962/sub-anm369962_ses-20170309.nwb``, or the version
``draft``). The dandi client (``pip install neurodyn[remote]``) resolves it to the asset's
download URL on the instance that dandi's own setting ``DANDI_INSTANCE`` names (an instance name
such as ``dandi`` or ``dandi-sandbox``, or the URL of a DANDI API; the DANDI archive by default);
the download URL is then read like any other URL, following its redirects.

Identity. A local source is identified by the SHA-256 of its bytes; hashing a remote file would
read all of it. A remote file is identified instead by :attr:`RemoteFile.identity`: the SHA-256 of
the source as given (URL or ``dandi://`` URI), the ``ETag`` and ``Last-Modified`` headers and the
size, as the server reports them on the first range request. It changes when the server's copy is
replaced (a new ETag or modification time, or a new size), and it does not depend on the bytes
themselves: a server that reports neither header identifies its file by URL and size only.

Network problems (no connection, an HTTP error status, a timeout, a server that ignores range
requests) are :class:`~neurodyn.errors.InputFileError` lines naming the source and the problem.
Every request gives up after :data:`CONNECT_TIMEOUT_S` without a connection and
:data:`READ_TIMEOUT_S` without an answer; remfile retries a failed range read a few times before
giving up.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from neurodyn.errors import InputFileError

HTTP_SCHEMES = ("http://", "https://")
DANDI_SCHEME = "dandi://"
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0
# the first request reads this many bytes: enough for the HDF5 signature at offsets 0, 512, 1024, 2048
PROBE_BYTES = 4096
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_remote(path: Any) -> bool:
    """True for an ``http://``, ``https://`` or ``dandi://`` source (a string, not a local path)."""
    if isinstance(path, RemoteFile):
        return True
    return isinstance(path, str) and path[:8].lower().startswith((*HTTP_SCHEMES, DANDI_SCHEME))


def suffix(path: str) -> str:
    """The lower-case suffix of a URL's path (``.nwb``), ignoring its query."""
    name = urlsplit(path).path.rsplit("/", 1)[-1]
    return os.path.splitext(name)[1].lower()


def parse_dandi_uri(uri: str) -> tuple[str, str, str]:
    """(dandiset id, version, asset path) of ``dandi://<dandiset>/<version>/<path>``."""
    rest = uri[len(DANDI_SCHEME) :]
    parts = rest.split("/", 2)
    if len(parts) < 3 or not all(parts):
        raise InputFileError(
            uri, "expected dandi://<dandiset>/<version>/<path> (e.g. dandi://000006/draft/sub-1/x.nwb)"
        )
    return parts[0], parts[1], parts[2]


def resolve(path: str) -> str:
    """The HTTP(S) URL to read ``path`` from: a ``dandi://`` asset's download URL (asked of the
    DANDI API), a plain URL unchanged."""
    if path[:8].lower().startswith(DANDI_SCHEME):
        return _dandi_download_url(path)
    if not path[:8].lower().startswith(HTTP_SCHEMES):
        raise InputFileError(path, "not a remote source (expected http://, https:// or dandi://)")
    return path


@dataclass(frozen=True)
class RemoteFile:
    """A remote file as its server described it on the first range request.

    ``source``: the path as given (URL or ``dandi://`` URI); ``url``: where the bytes are read
    (after DANDI resolution and redirects); ``head``: the file's first bytes (up to
    :data:`PROBE_BYTES`)."""

    source: str
    url: str
    size: int
    etag: str | None
    last_modified: str | None
    head: bytes

    def __str__(self) -> str:
        return self.source

    @property
    def identity(self) -> str:
        """Hex SHA-256 of source, ETag, Last-Modified and size: what stands in for the file's
        SHA-256 (see the module's docstring)."""
        fields = ["neurodyn-remote-1", self.source, self.etag or "", self.last_modified or "", str(self.size)]
        return hashlib.sha256("\n".join(fields).encode()).hexdigest()

    @property
    def has_hdf5_signature(self) -> bool:
        """Whether the HDF5 signature sits at offset 0 or at a 512-, 1024- or 2048-byte userblock."""
        return any(self.head[o : o + 8] == HDF5_SIGNATURE for o in (0, 512, 1024, 2048))


def probe(path: str) -> RemoteFile:
    """Resolve ``path`` and ask its server for the first bytes with one range request.

    Raises InputFileError naming ``path`` when the server cannot be reached, answers with an
    error status, times out, ignores the range (a lazy read needs range requests) or reports no
    size, and when the file is empty."""
    import requests

    url = resolve(path)
    where = path if url == path else f"{path} (download URL {url})"
    try:
        with _http_session() as session:
            response = session.get(url, headers={"Range": f"bytes=0-{PROBE_BYTES - 1}"}, stream=True)
            with response:
                if response.status_code == 416:
                    raise InputFileError(path, "is empty")
                if response.status_code == 200:
                    raise InputFileError(
                        where,
                        "the server ignores HTTP range requests (it answered 200 with the whole file), "
                        "so the file cannot be read lazily; download it and ingest the local copy",
                    )
                if response.status_code != 206:
                    raise InputFileError(where, f"HTTP {response.status_code} {response.reason}".rstrip())
                size = _content_range_size(response.headers.get("Content-Range", ""))
                if size is None:
                    raise InputFileError(where, "the server's answer to a range request gives no file size")
                head = b""
                for block in response.iter_content(PROBE_BYTES + 1):  # errors come as requests' exceptions
                    head += block
                    if len(head) > PROBE_BYTES:
                        break
                if len(head) != min(PROBE_BYTES, size):
                    raise InputFileError(
                        where,
                        f"the server answered a range request for {min(PROBE_BYTES, size)} bytes with {len(head)}",
                    )
                return RemoteFile(
                    source=path,
                    url=response.url,
                    size=size,
                    etag=response.headers.get("ETag"),
                    last_modified=response.headers.get("Last-Modified"),
                    head=head,
                )
    except requests.RequestException as exc:
        raise InputFileError(where, describe_request_error(exc))


def _content_range_size(content_range: str) -> int | None:
    """The total size in ``Content-Range: bytes a-b/size`` (None when absent or ``*``)."""
    match = re.fullmatch(r"\s*bytes\s+\d+-\d+/(\d+)\s*", content_range)
    return int(match.group(1)) if match else None


def describe_request_error(exc: BaseException) -> str:
    """One line for a failed HTTP request: what went wrong, without the library's internals."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT_S:g} s (timed out)"
    if isinstance(exc, requests.ReadTimeout):
        return f"the server sent nothing for {READ_TIMEOUT_S:g} s (timed out)"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}".rstrip()
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if isinstance(exc, requests.ConnectionError):
        return f"cannot connect ({errno.group(1).strip() if errno else type(exc).__name__})"
    return f"request failed ({errno.group(1).strip() if errno else type(exc).__name__})"


def open_remote(url: str):
    """A read-only, seekable file-like object over ``url`` for ``h5py.File(..., "r")``: a
    :class:`remfile.File`, which fetches only the byte ranges that are read (and caches them);
    its requests time out as :func:`probe`'s do, and a failed read is an OSError
    (what h5py and the readers take for an unreadable file)."""
    import requests

    try:
        handle = _reader_class()(url)
    except Exception as exc:  # remfile raises bare Exceptions for HTTP errors
        problem = describe_request_error(exc) if isinstance(exc, requests.RequestException) else str(exc)
        raise InputFileError(url, problem.replace("\n", " "))
    _mount_timeouts(handle.session)
    return handle


@cache
def _reader_class():
    import remfile

    class RemoteReader(remfile.File):
        """remfile's reader whose failed reads (after remfile's retries) are OSErrors."""

        def read(self, size=None):
            try:
                return super().read(size)
            except Exception as exc:  # remfile raises bare Exceptions for HTTP errors
                raise OSError(f"a range read failed: {exc}".replace("\n", " ")) from exc

    return RemoteReader


@contextmanager
def _http_session() -> Iterator[Any]:
    import requests

    session = requests.Session()
    _mount_timeouts(session)
    try:
        yield session
    finally:
        session.close()


def _mount_timeouts(session) -> None:
    """Give every request of ``session`` the module's timeouts unless it sets its own."""
    adapter = _timeout_adapter_class()()
    session.mount("http://", adapter)
    session.mount("https://", adapter)


@cache
def _timeout_adapter_class():
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request, **kwargs):
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
            return super().send(request, **kwargs)

    return TimeoutAdapter


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Hold back a library's log records (its failures come back as one InputFileError line)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def _dandi_download_url(uri: str) -> str:
    """The download URL of the asset ``dandi://<dandiset>/<version>/<path>`` names, asked of the
    DANDI API with the dandi client (the instance comes from ``DANDI_INSTANCE``)."""
    dandiset_id, version, asset_path = parse_dandi_uri(uri)
    try:
        from dandi.dandiapi import DandiAPIClient
        from dandi.exceptions import NotFoundError
    except ImportError:
        raise InputFileError(uri, "dandi:// sources need the dandi client: pip install neurodyn[remote]")
    import requests

    instance = os.environ.get("DANDI_INSTANCE", "dandi")
    with _quiet("dandi"):
        try:
            with DandiAPIClient() as client:
                _mount_timeouts(client.session)
                asset = client.get_dandiset(dandiset_id, version).get_asset_by_path(asset_path)
                return asset.download_url
        except NotFoundError as exc:
            first_sentence = str(exc).split(". ")[0].rstrip(".")
            raise InputFileError(uri, f"not found on the DANDI instance {instance!r}: {first_sentence}")
        except requests.RequestException as exc:
            raise InputFileError(uri, f"the DANDI API of {instance!r} failed: {describe_request_error(exc)}")
        except (RuntimeError, ValueError) as exc:  # the instance's server information is unavailable or malformed
            raise InputFileError(uri, f"cannot use the DANDI instance {instance!r} ({exc})".replace("\n", " "))
