"""Atomic writes: nothing partial under the final name, and nothing left behind by a killed writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurodyn.storage import _host, recover_interrupted, write_atomically

KILLED_WRITER = """
import sys, time
from pathlib import Path
from neurodyn.storage import write_atomically

def write(tmp):
    tmp.mkdir()
    (tmp / "part").write_text("half of the output")
    Path(sys.argv[2]).write_text("started")
    time.sleep(60)

write_atomically(write, sys.argv[1])
"""


def _killed_mid_write(final: Path) -> None:
    """Run a real writer of ``final`` in another process and kill -9 it while it writes."""
    started = final.parent / "started"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(final), str(started)])
    try:
        for _ in range(600):
            if started.exists():
                break
            time.sleep(0.05)
        assert started.exists(), "the writer never started"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    started.unlink()


def test_a_writer_killed_mid_write_leaves_nothing_after_the_next_write(tmp_path):
    final = tmp_path / "out.zarr"
    _killed_mid_write(final)
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert len(leftovers) == 1 and leftovers[0].startswith(f"out.zarr.tmp-{_host()}-")
    assert not final.exists()
    write_atomically(lambda tmp: tmp.write_text("complete"), final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"] and final.read_text() == "complete"


def test_a_previous_output_moved_aside_by_a_killed_writer_is_restored(tmp_path):
    final = tmp_path / "model"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited
    aside = tmp_path / f"model.old-{_host()}-{pid}"
    aside.mkdir()
    (aside / "weights.pt").write_text("the previous model")
    assert recover_interrupted(final) == [aside]
    assert (final / "weights.pt").read_text() == "the previous model" and not aside.exists()


def test_live_writers_and_other_machines_are_left_alone(tmp_path):
    final = tmp_path / "out.json"
    live = tmp_path / f"out.json.tmp-{_host()}-{os.getppid()}"  # this test's parent process is alive
    other_host = tmp_path / "out.json.tmp-some-other-node-1"
    for path in (live, other_host):
        path.write_text("in progress")
    write_atomically(lambda tmp: tmp.write_text("{}"), final)
    assert live.exists() and other_host.exists() and final.read_text() == "{}"


def test_a_failed_write_keeps_the_previous_output(tmp_path):
    final = tmp_path / "report.html"
    final.write_text("old report")

    def failing(tmp: Path) -> None:
        tmp.write_text("partial")
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(failing, final)
    assert final.read_text() == "old report" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_folder_is_never_replaced_by_a_file_nor_a_file_by_a_folder(tmp_path):
    from neurodyn.errors import InputFileError
    from neurodyn.storage import write_atomically

    folder = tmp_path / "results"
    (folder / "keep").mkdir(parents=True)
    (folder / "keep" / "data.txt").write_text("precious")
    with pytest.raises(InputFileError, match="is a folder; refusing to replace it with a file"):
        write_atomically(lambda tmp: tmp.write_text("x"), folder)
    assert (folder / "keep" / "data.txt").read_text() == "precious"
    single = tmp_path / "notes.txt"
    single.write_text("mine")
    with pytest.raises(InputFileError, match="is a file; refusing to replace it with a folder"):
        write_atomically(lambda tmp: tmp.mkdir(), single)
    assert single.read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "results"]


def test_a_failed_write_removes_the_folders_it_created(tmp_path):
    from neurodyn.storage import write_atomically

    def fail(tmp):
        tmp.write_text("partial")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomically(fail, tmp_path / "a" / "b" / "out.json")
    assert list(tmp_path.iterdir()) == []
