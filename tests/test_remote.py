"""Remote sources read over real HTTP: a server on 127.0.0.1 that honours (or ignores) byte ranges
and counts what it sends, serving NWB files that pynwb wrote; a stand-in of the DANDI API for
``dandi://`` assets, queried by the real dandi client."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import re
import socket
import sys
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from neurodyn.cli import main
from neurodyn.data.dataset import open_dataset
from neurodyn.io import remote
from neurodyn.io.nwb import read_nwb
from neurodyn.io.registry import detect_kind
from neurodyn.stages.data import ingest_stage

BIG_SAMPLES = 8_000_000  # float32 acquisition series the reader never touches (32 MB)


def write_session_nwb(path: Path, *, big_samples: int = 0) -> Path:
    """A small units + trials NWB file with pynwb, optionally with a large raw acquisition series."""
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    rng = np.random.default_rng(3)
    nwbfile = NWBFile(
        session_description="remote test session",
        identifier=path.stem,
        session_start_time=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    for _ in range(8):
        nwbfile.add_unit(spike_times=np.sort(rng.uniform(0, 12, size=rng.integers(30, 90))))
    nwbfile.add_trial_column(name="go_time", description="go cue")
    for k in range(10):
        nwbfile.add_trial(start_time=1.1 * k, stop_time=1.1 * k + 1.0, go_time=1.1 * k + 0.25)
    if big_samples:
        raw = rng.standard_normal(big_samples).astype(np.float32)
        nwbfile.add_acquisition(TimeSeries(name="raw_voltage", data=raw, unit="V", rate=30_000.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(path), "w") as io:
            io.write(nwbfile)
    return path


class FileServer:
    """Files under ``root`` over HTTP/1.1 on 127.0.0.1, with ``Range: bytes=a-b`` answered 206
    (or ignored with ``honour_range=False``); ``served[name]`` counts the body bytes sent for each
    file; after ``fail_after`` file requests, every file request is answered ``fail_status``.
    ``dandi_assets`` (asset path → file name) adds a stand-in of the DANDI API's endpoints the
    dandi client calls, under ``/api``."""

    def __init__(self, root: Path, *, honour_range: bool = True, dandi_assets: dict[str, str] | None = None):
        self.root = root
        self.honour_range = honour_range
        self.dandi_assets = dandi_assets or {}
        self.served: dict[str, int] = {}
        self.file_requests = 0
        self.fail_after: int | None = None
        self.fail_status = 403
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a client that hung up is no error here
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, name: str) -> str:
        return f"{self.base}/files/{name}"

    def count(self, name: str, n: int) -> None:
        with self.lock:
            self.served[name] = self.served.get(name, 0) + n

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def send_json(self, status: int, payload) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = urlsplit(self.path)
                if parts.path.startswith("/files/"):
                    return self.send_file(parts.path[len("/files/") :])
                if server.dandi_assets and (parts.path == "/server-info" or parts.path.startswith("/api/")):
                    return self.dandi_api(parts.path, parse_qs(parts.query))
                self.send_json(404, {"detail": "Not found."})

            def send_file(self, name: str) -> None:
                path = server.root / name
                with server.lock:
                    server.file_requests += 1
                    failing = server.fail_after is not None and server.file_requests > server.fail_after
                if failing:
                    return self.send_json(server.fail_status, {"detail": "refused"})
                if not path.is_file():
                    return self.send_json(404, {"detail": "Not found."})
                size = path.stat().st_size
                stat = path.stat()
                headers = {
                    "ETag": f'"{hashlib.md5(path.read_bytes()).hexdigest()}"',
                    "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
                    "Accept-Ranges": "bytes" if server.honour_range else "none",
                }
                match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if match and server.honour_range:
                    start = int(match.group(1))
                    stop = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{size}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{stop}/{size}")
                else:
                    start, stop = 0, size - 1
                    self.send_response(200)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(stop - start + 1))
                self.end_headers()
                with open(path, "rb") as handle:
                    handle.seek(start)
                    left = stop - start + 1
                    try:
                        while left > 0:
                            block = handle.read(min(left, 1 << 16))
                            self.wfile.write(block)
                            server.count(name, len(block))
                            left -= len(block)
                    except (BrokenPipeError, ConnectionResetError):  # the client read only what it needed
                        self.close_connection = True

            def dandi_api(self, path: str, query: dict[str, list[str]]) -> None:
                api = f"{server.base}/api"
                if path == "/server-info":
                    return self.send_json(
                        200,
                        {
                            "version": "0.0.0",
                            "services": {"api": {"url": api}, "webui": {"url": server.base}},
                            "cli-minimal-version": "0.0.0",
                            "cli-bad-versions": [],
                        },
                    )
                listing = re.fullmatch(r"/api/dandisets/(\d+)/versions/([^/]+)/assets/", path)
                if listing and listing.group(1) == "000123" and listing.group(2) == "draft":
                    prefix = query.get("path", [""])[0]
                    results = [
                        {
                            "asset_id": f"asset-{k}",
                            "blob": f"blob-{k}",
                            "zarr": None,
                            "path": asset_path,
                            "size": (server.root / name).stat().st_size,
                            "created": "2024-01-01T00:00:00Z",
                            "modified": "2024-01-01T00:00:00Z",
                        }
                        for k, (asset_path, name) in enumerate(sorted(server.dandi_assets.items()))
                        if asset_path.startswith(prefix)
                    ]
                    return self.send_json(
                        200, {"count": len(results), "next": None, "previous": None, "results": results}
                    )
                download = re.fullmatch(r"/api/dandisets/000123/versions/draft/assets/asset-(\d+)/download/", path)
                if download:
                    name = sorted(server.dandi_assets.items())[int(download.group(1))][1]
                    self.send_response(302)
                    self.send_header("Location", server.url(name))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return None
                self.send_json(404, {"detail": "Not found."})

        return Handler


@pytest.fixture(scope="module")
def nwb_files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("served")
    write_session_nwb(root / "session.nwb")
    write_session_nwb(root / "big.nwb", big_samples=BIG_SAMPLES)
    return root


@pytest.fixture
def server(nwb_files):
    with FileServer(nwb_files) as running:
        yield running


def _same_recording(a, b) -> None:
    np.testing.assert_array_equal(a.spike_times, b.spike_times)
    np.testing.assert_array_equal(a.unit_offsets, b.unit_offsets)
    np.testing.assert_array_equal(a.unit_ids, b.unit_ids)
    assert sorted(a.trials) == sorted(b.trials)
    for name in a.trials:
        np.testing.assert_array_equal(a.trials[name], b.trials[name])
    assert a.extent == b.extent and a.description == b.description


def _ingest(source: str | Path, out: Path, capsys) -> tuple[int, list[str]]:
    rc = main(
        ["ingest", str(source), str(out), "--bin-size", "0.05", "--align-event", "go_time", "--window", "0", "0.5"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    return rc, [line for line in err if line.startswith("neurodyn: error:")]


def _assert_same_store(remote_store: Path, local_store: Path) -> None:
    a, b = open_dataset(remote_store), open_dataset(local_store)
    assert set(a.variables) == set(b.variables)
    for name in a.variables:
        np.testing.assert_array_equal(a[name].values, b[name].values)
    differ = {"source", "source_sha256"}
    assert {k: v for k, v in a.attrs.items() if k not in differ} == {
        k: v for k, v in b.attrs.items() if k not in differ
    }


def test_url_reads_exactly_what_the_local_file_holds(server, nwb_files):
    url = server.url("session.nwb")
    assert remote.is_remote(url) and not remote.is_remote(str(nwb_files / "session.nwb"))
    assert remote.resolve(url) == url
    assert detect_kind(url) == "nwb"
    local = read_nwb(nwb_files / "session.nwb")
    far = read_nwb(url)
    _same_recording(far, local)
    assert far.spike_times.size > 300 and len(far.trials["start_time"]) == 10
    assert far.source == url
    probed = remote.probe(url)
    assert far.source_sha256 == probed.identity and far.source_sha256 != local.source_sha256
    assert probed.size == (nwb_files / "session.nwb").stat().st_size and probed.etag


def test_identity_follows_the_servers_etag_and_size(server):
    probed = remote.probe(server.url("session.nwb"))
    assert probed.identity == remote.probe(server.url("session.nwb")).identity  # stable across requests
    changed = [
        remote.RemoteFile(probed.source, probed.url, probed.size, '"other"', probed.last_modified, probed.head),
        remote.RemoteFile(probed.source, probed.url, probed.size + 1, probed.etag, probed.last_modified, probed.head),
        remote.RemoteFile(
            probed.source + "?v=2", probed.url, probed.size, probed.etag, probed.last_modified, probed.head
        ),
    ]
    assert len({probed.identity, *(c.identity for c in changed)}) == 4


def test_a_large_unread_dataset_is_not_downloaded(server, nwb_files):
    size = (nwb_files / "big.nwb").stat().st_size
    assert size > 4 * BIG_SAMPLES
    far = read_nwb(server.url("big.nwb"))
    _same_recording(far, read_nwb(nwb_files / "big.nwb"))
    served = server.served["big.nwb"]
    assert served < size / 4, (served, size)


def test_ingest_url_gives_the_local_store(server, nwb_files, tmp_path, capsys):
    url = server.url("session.nwb")
    rc, errors = _ingest(url, tmp_path / "remote.zarr", capsys)
    assert (rc, errors) == (0, [])
    assert _ingest(nwb_files / "session.nwb", tmp_path / "local.zarr", capsys) == (0, [])
    _assert_same_store(tmp_path / "remote.zarr", tmp_path / "local.zarr")
    attrs = open_dataset(tmp_path / "remote.zarr").attrs
    assert attrs["source"] == url and attrs["source_sha256"] == remote.probe(url).identity


def test_workflow_ingest_stage_reads_a_url(server, nwb_files, tmp_path):
    from neurodyn.data.recording import load_recording

    url = server.url("session.nwb")
    ingest_stage(url, {"kind": "nwb", "path": url}, tmp_path / "recording.zarr")
    _same_recording(load_recording(tmp_path / "recording.zarr"), read_nwb(nwb_files / "session.nwb"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_one_line_and_nothing_left(source: str, out_dir: Path, capsys, problem: str) -> None:
    rc, errors = _ingest(source, out_dir / "out.zarr", capsys)
    assert rc == 1
    assert len(errors) == 1, errors
    assert source in errors[0] and problem in errors[0], errors[0]
    assert not out_dir.exists() or list(out_dir.iterdir()) == []


def test_http_errors_are_one_line_and_leave_nothing(server, nwb_files, tmp_path, capsys):
    _assert_one_line_and_nothing_left(server.url("missing.nwb"), tmp_path / "a", capsys, "HTTP 404 Not Found")
    refused = f"http://127.0.0.1:{_free_port()}/files/session.nwb"
    _assert_one_line_and_nothing_left(refused, tmp_path / "b", capsys, "cannot connect (Connection refused)")
    (nwb_files / "empty.nwb").write_bytes(b"")
    _assert_one_line_and_nothing_left(server.url("empty.nwb"), tmp_path / "c", capsys, "is empty")
    (nwb_files / "text.nwb").write_bytes(b"not an HDF5 file at all\n" * 10)
    _assert_one_line_and_nothing_left(server.url("text.nwb"), tmp_path / "d", capsys, "no HDF5 signature")


def test_a_read_failing_after_the_open_is_an_oserror(server):
    import h5py

    with h5py.File(remote.open_remote(server.url("big.nwb")), "r") as h5file:
        series = h5file["acquisition/raw_voltage/data"]
        np.testing.assert_array_equal(series[:5].shape, (5,))
        server.fail_after = server.file_requests  # e.g. a presigned URL that expired meanwhile
        with pytest.raises(OSError, match="a range read failed: .*403 Forbidden"):
            series[BIG_SAMPLES // 2 : BIG_SAMPLES // 2 + 10]


def test_a_server_failing_mid_ingest_is_one_line(server, tmp_path, capsys):
    # two probes (kind, then reader) and remfile's size request pass; the first range read fails
    server.fail_after = 3
    source = server.url("big.nwb")
    _assert_one_line_and_nothing_left(source, tmp_path / "out", capsys, "a range read failed")


def test_a_server_ignoring_ranges_is_one_line(nwb_files, tmp_path, capsys):
    with FileServer(nwb_files, honour_range=False) as ignoring:
        source = ignoring.url("big.nwb")
        _assert_one_line_and_nothing_left(source, tmp_path / "out", capsys, "ignores HTTP range requests")
        # the whole file was never sent: the answer was dropped after its headers
        assert ignoring.served.get("big.nwb", 0) < (nwb_files / "big.nwb").stat().st_size / 4


def test_a_silent_server_times_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(remote, "READ_TIMEOUT_S", 0.5)
    with socket.socket() as listener:  # accepts connections, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        source = f"http://127.0.0.1:{listener.getsockname()[1]}/files/session.nwb"
        _assert_one_line_and_nothing_left(source, tmp_path / "out", capsys, "sent nothing for 0.5 s (timed out)")


def test_only_nwb_is_read_from_a_url(server, nwb_files, tmp_path, capsys):
    import mne

    raw = mne.io.RawArray(np.zeros((2, 500)), mne.create_info(["A1", "A2"], 100.0, "eeg"), verbose="error")
    mne.export.export_raw(nwb_files / "eeg.edf", raw, fmt="edf", overwrite=True, verbose="error")
    _assert_one_line_and_nothing_left(server.url("eeg.edf"), tmp_path / "out", capsys, "read from local files only")


@pytest.fixture
def dandi_server(nwb_files, monkeypatch):
    pytest.importorskip("dandi.dandiapi")
    assets = {"sub-1/sub-1_ses-1_ecephys.nwb": "session.nwb", "sub-2/sub-2_ses-1_ecephys.nwb": "big.nwb"}
    with FileServer(nwb_files, dandi_assets=assets) as running:
        monkeypatch.setenv("DANDI_INSTANCE", f"{running.base}/api")
        monkeypatch.setenv("DANDI_NO_ET", "1")  # no version check against the internet
        yield running


def test_dandi_asset_resolves_through_the_dandi_api(dandi_server):
    uri = "dandi://000123/draft/sub-1/sub-1_ses-1_ecephys.nwb"
    assert remote.parse_dandi_uri(uri) == ("000123", "draft", "sub-1/sub-1_ses-1_ecephys.nwb")
    assert remote.resolve(uri) == f"{dandi_server.base}/api/dandisets/000123/versions/draft/assets/asset-0/download/"
    probed = remote.probe(uri)  # follows the download redirect to the file
    assert probed.url == dandi_server.url("session.nwb") and probed.source == uri


def test_ingest_dandi_asset_gives_the_local_store(dandi_server, nwb_files, tmp_path, capsys):
    uri = "dandi://000123/draft/sub-2/sub-2_ses-1_ecephys.nwb"
    assert _ingest(uri, tmp_path / "remote.zarr", capsys) == (0, [])
    assert _ingest(nwb_files / "big.nwb", tmp_path / "local.zarr", capsys) == (0, [])
    _assert_same_store(tmp_path / "remote.zarr", tmp_path / "local.zarr")
    assert open_dataset(tmp_path / "remote.zarr").attrs["source"] == uri
    assert dandi_server.served["big.nwb"] < (nwb_files / "big.nwb").stat().st_size / 4


def test_dandi_errors_are_one_line(dandi_server, tmp_path, capsys):
    missing = "dandi://000123/draft/sub-9/none.nwb"
    _assert_one_line_and_nothing_left(missing, tmp_path / "a", capsys, "No asset at path 'sub-9/none.nwb'")
    bad_version = "dandi://000999/draft/sub-1/sub-1_ses-1_ecephys.nwb"
    _assert_one_line_and_nothing_left(bad_version, tmp_path / "b", capsys, "No such version")
    _assert_one_line_and_nothing_left("dandi://000123/draft", tmp_path / "c", capsys, "expected dandi://<dandiset>")


def test_an_unreachable_dandi_instance_is_one_line(dandi_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DANDI_INSTANCE", f"http://127.0.0.1:{_free_port()}/api")
    source = "dandi://000123/draft/sub-1/sub-1_ses-1_ecephys.nwb"
    _assert_one_line_and_nothing_left(source, tmp_path / "out", capsys, "cannot use the DANDI instance")


def test_dandi_without_the_client_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "dandi.dandiapi", None)  # as if the extra were not installed
    source = "dandi://000123/draft/sub-1/sub-1_ses-1_ecephys.nwb"
    _assert_one_line_and_nothing_left(source, tmp_path / "out", capsys, "pip install neurodyn[remote]")


def test_a_workflow_dataset_reads_its_url(server, nwb_files, tmp_path):
    """A real Snakemake run with an https source: the URL is no input file; ingest reads it lazily."""
    import subprocess
    import sys

    import yaml
    from conftest import REPO

    url = server.url("session.nwb")
    config = {
        "models": {"lds": {"family": "lds", "latent_dim": 2, "gpus": 0}},
        "datasets": {
            "far": {
                "source": {"kind": "nwb", "path": url},
                "binning": {"bin_size_s": 0.05, "align_event": "go_time", "window_s": [0, 0.5]},
                "models": ["lds"],
            }
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    target = "results/far/dataset.zarr.manifest.json"
    run = subprocess.run(
        [snakemake, target, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "1"]
        + ["--configfile", str(tmp_path / "config.yaml")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    from neurodyn.stages.data import ingest_and_bin_stage

    entry = {**config["datasets"]["far"], "source": {"kind": "nwb", "path": str(nwb_files / "session.nwb")}}
    local = ingest_and_bin_stage(nwb_files / "session.nwb", entry, tmp_path / "local.zarr")
    _assert_same_store(tmp_path / "results/far/dataset.zarr", local)
