"""A fit's progress a user can follow: the line (dataset/model, epoch/total, elapsed, ETA, objective),
its cadence and ETA arithmetic on a fake clock, the label set by the fit stage reaching the line from
a real ``neurodyn fit``, and the single-line bar drawn only when stderr is a terminal (a real pty)."""

from __future__ import annotations

import ast
import fcntl
import io
import logging
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import rotating_latent_dataset

from neurodyn import progress
from neurodyn.cli import main
from neurodyn.data.dataset import write_dataset
from neurodyn.models.smc_lowrank.model import SMCLowRank
from neurodyn.progress import (
    ProgressRun,
    ProgressState,
    format_duration,
    progress_bar,
    progress_label,
    progress_line,
    report_progress,
    terminal_progress,
)
from neurodyn.stages.fit import fit_label

ROOT = Path(__file__).resolve().parents[1]
NEURODYN = str(Path(sys.executable).with_name("neurodyn"))


class FakeClock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def progress_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "neurodyn.progress"]


# ----------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0:00"), (59.6, "1:00"), (84, "1:24"), (3600, "1:00:00"), (3725.2, "1:02:05"), (None, "?"), (np.inf, "?")],
)
def test_durations_read_as_clock_times(seconds, text):
    assert format_duration(seconds) == text


def test_the_line_names_the_run_the_epoch_the_times_and_the_objective():
    state = ProgressState(
        "spikes/smc (smc_lowrank)",
        "epoch",
        12,
        40,
        36.0,
        84.0,
        {"bound/step": -32.0205, "valid": -26.2163, "lr": 0.00631},
    )
    assert progress_line(state) == (
        "spikes/smc (smc_lowrank): epoch 12/40 (30%), elapsed 0:36, ETA 1:24; "
        "bound/step -32.02, valid -26.22, lr 0.00631"
    )
    words = ProgressState("eeg/plrnn (plrnn_em)", "EM iteration", 3, 7, 5.0, None, {"stage": "linear"})
    assert progress_line(words) == "eeg/plrnn (plrnn_em): EM iteration 3/7 (42%), elapsed 0:05, ETA ?; stage linear"


def test_the_bar_fills_with_the_epochs_and_fits_its_width():
    state = ProgressState("osc/smc (smc_lowrank)", "epoch", 10, 40, 30.0, 90.0, {"bound/step": -1.5})
    bar = progress_bar(state, 200)
    assert bar == "osc/smc (smc_lowrank) [#####---------------]  25% epoch 10/40 0:30<1:30 bound/step -1.5"
    narrow = progress_bar(state, 40)
    assert len(narrow) == 40 and narrow.endswith("…") and narrow.startswith("osc/smc (smc_lowrank) [#####")


def test_the_label_names_the_family_once_when_the_model_is_named_after_it():
    assert ProgressRun("spikes/smc").describe("smc_lowrank") == "spikes/smc (smc_lowrank)"
    assert ProgressRun("osc/lds").describe("lds") == "osc/lds"
    assert ProgressRun(None).describe("lds") == "lds"


def test_the_fit_stage_labels_a_fit_by_dataset_and_model():
    assert fit_label("results/spikes/dataset.zarr", "results/spikes/models/smc", "models.smc") == "spikes/smc"
    assert fit_label("data/osc.zarr", "fits/first", None) == "osc/first"


# ----------------------------------------------------------------------------- timing and cadence


def test_eta_is_the_mean_time_per_epoch_times_the_epochs_left(caplog):
    caplog.set_level(logging.INFO)
    clock = FakeClock(100.0)
    with progress_label("spikes/smc", clock=clock):
        clock.now += 4.0  # setup before the first epoch counts towards the first estimate
        for epoch in range(1, 11):
            clock.now += 2.0
            report_progress("smc_lowrank", epoch, 10, {"bound": -float(epoch)})
    lines = progress_lines(caplog)
    assert len(lines) == 10  # ten epochs: one line each
    # epoch 1 after 6 s: 6 s per epoch, 9 left; epoch 2 after 8 s: 4 s per epoch, 8 left
    assert lines[0] == "spikes/smc (smc_lowrank): epoch 1/10 (10%), elapsed 0:06, ETA 0:54; bound -1"
    assert lines[1] == "spikes/smc (smc_lowrank): epoch 2/10 (20%), elapsed 0:08, ETA 0:32; bound -2"
    assert lines[4].startswith("spikes/smc (smc_lowrank): epoch 5/10 (50%), elapsed 0:14, ETA 0:14;")
    assert lines[-1] == "spikes/smc (smc_lowrank): epoch 10/10 (100%), elapsed 0:24, ETA 0:00; bound -10"


def test_a_resumed_fit_estimates_from_the_epochs_run_in_this_process(caplog):
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    with progress_label("spikes/smc", clock=clock):
        clock.now = 5.0
        report_progress("smc_lowrank", 21, 40, {})  # resumed after epoch 20
        for epoch, now in ((22, 7.0), (23, 9.0), (24, 11.0)):
            clock.now = now
            report_progress("smc_lowrank", epoch, 40, {})
    first, second = progress_lines(caplog)  # epoch 24 starts the seventh tenth of the fit
    assert first == "spikes/smc (smc_lowrank): epoch 21/40 (52%), elapsed 0:05, ETA 1:35"  # 5 s × 19
    assert second == "spikes/smc (smc_lowrank): epoch 24/40 (60%), elapsed 0:11, ETA 0:44"  # 11 s / 4 × 16


def test_outside_a_labelled_run_the_first_eta_is_unknown(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    monkeypatch.setattr(progress, "_UNLABELLED", ProgressRun(label=None, clock=clock))
    for epoch in (1, 2, 3):
        clock.now += 3.0
        report_progress("lfads_jslds", epoch, 3, {"loss": 0.5})
    assert progress_lines(caplog) == [
        "lfads_jslds: epoch 1/3 (33%), elapsed 0:00, ETA ?; loss 0.5",
        "lfads_jslds: epoch 2/3 (66%), elapsed 0:03, ETA 0:03; loss 0.5",
        "lfads_jslds: epoch 3/3 (100%), elapsed 0:06, ETA 0:00; loss 0.5",
    ]
    # a new loop (the step starts again) is timed afresh
    clock.now += 50.0
    report_progress("lfads_jslds", 1, 2, {})
    assert progress_lines(caplog)[-1] == "lfads_jslds: epoch 1/2 (50%), elapsed 0:00, ETA ?"


def test_lines_come_every_tenth_of_the_fit_and_at_least_every_minute(caplog):
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    with progress_label("a/b", clock=clock):
        for epoch in range(1, 41):
            clock.now += 1.0
            report_progress("smc_lowrank", epoch, 40, {})
    epochs = [int(re.search(r"epoch (\d+)/", line)[1]) for line in progress_lines(caplog)]
    assert epochs == [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]

    caplog.clear()
    with progress_label("a/slow", clock=clock):  # 7 s an epoch, a tenth of the fit is 700 s
        for epoch in range(1, 1001):
            clock.now += 7.0
            report_progress("smc_lowrank", epoch, 1000, {})
    epochs = [int(re.search(r"epoch (\d+)/", line)[1]) for line in progress_lines(caplog)]
    gaps = np.diff(epochs) * 7.0
    assert epochs[0] == 1 and epochs[-1] == 1000
    assert gaps.max() <= progress.LOG_SECONDS + 7.0 and len(epochs) < 200


# ----------------------------------------------------------------------------- the terminal bar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_redrawn_bar_and_a_log_record_ends_it_first(caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("COLUMNS", "200")
    clock = FakeClock()
    terminal = FakeTerminal()
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        with terminal_progress(terminal) as bar, progress_label("osc/smc", clock=clock):
            assert bar is not None
            for epoch in range(1, 5):
                clock.now += 1.0
                report_progress("smc_lowrank", epoch, 4, {"bound": -1.0})
                if epoch == 2:
                    logging.getLogger("neurodyn.models").info("checkpoint saved")
            logging.getLogger("neurodyn").info("fit took 4.0 s")
    finally:
        logging.getLogger().removeHandler(handler)
    text = terminal.getvalue()
    assert progress_lines(caplog) == []  # the bar instead of the lines
    assert text.count("\r\x1b[K") == 4
    assert "\r\x1b[Kosc/smc (smc_lowrank) [##########----------]  50% epoch 2/4 0:02<0:02 bound -1\n" in text
    assert "50% epoch 2/4 0:02<0:02 bound -1\nINFO neurodyn.models: checkpoint saved\n\r\x1b[K" in text
    assert text.endswith("100% epoch 4/4 0:04<0:00 bound -1\nINFO neurodyn: fit took 4.0 s\n")


def test_no_bar_where_stderr_is_not_a_terminal(caplog):
    caplog.set_level(logging.INFO)
    stream = io.StringIO()
    with terminal_progress(stream) as bar, progress_label("osc/smc", clock=FakeClock()):
        report_progress("smc_lowrank", 1, 2, {})
    assert bar is None and stream.getvalue() == ""
    assert progress_lines(caplog) == ["osc/smc (smc_lowrank): epoch 1/2 (50%), elapsed 0:00, ETA 0:00"]


def test_progress_is_a_leaf_module_every_layer_may_import():
    tree = ast.parse((ROOT / "src" / "neurodyn" / "progress.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


# ----------------------------------------------------------------------------- a real `neurodyn fit`

EPOCHS = 4


@pytest.fixture(scope="module")
def fit_inputs(tmp_path_factory) -> dict[str, Path]:
    """A continuous dataset store named ``osc`` and a short smc_lowrank configuration."""
    root = tmp_path_factory.mktemp("progress")
    ds = rotating_latent_dataset(n_channels=6, n_trials=16, n_time=25, held_split="valid")
    write_dataset(ds, root / "osc.zarr")
    (root / "smc.yaml").write_text(yaml.safe_dump({**SMCLowRank.quick_options, "epochs": EPOCHS}))
    return {"store": root / "osc.zarr", "config": root / "smc.yaml", "root": root}


def fit_argv(fit_inputs, out: Path) -> list[str]:
    return ["fit", str(fit_inputs["store"]), str(out), "--family", "smc_lowrank"] + [
        "--config",
        str(fit_inputs["config"]),
        "--device",
        "cpu",
    ]


def test_neurodyn_fit_logs_lines_naming_dataset_and_model(fit_inputs, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    assert main(fit_argv(fit_inputs, tmp_path / "first")) == 0
    lines = progress_lines(caplog)
    assert [int(re.search(r"epoch (\d+)/4 ", line)[1]) for line in lines] == [1, 2, 3, 4]
    pattern = r"osc/first \(smc_lowrank\): epoch \d/4 \(\d+%\), elapsed \d+:\d\d, ETA \d+:\d\d; bound/step -?\d"
    assert all(re.match(pattern, line) for line in lines), lines
    assert lines[-1].startswith("osc/first (smc_lowrank): epoch 4/4 (100%)") and "ETA 0:00" in lines[-1]
    assert "valid " in lines[0] and " lr " in lines[0]


def _run_in_pty(argv: list[str], columns: int, timeout: float = 240.0) -> tuple[int, str]:
    """Run ``neurodyn ARGV`` with stderr on a pseudo-terminal ``columns`` wide; its output."""
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [NEURODYN, *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=child_fd,
        env={**os.environ, "COLUMNS": ""},
    )
    os.close(child_fd)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:  # EIO: the child closed its end
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
    finally:
        os.close(main_fd)
        if proc.poll() is None:
            proc.kill()
    return proc.wait(), b"".join(chunks).decode(errors="replace")


def test_neurodyn_fit_in_a_terminal_draws_one_bar_instead_of_lines(fit_inputs, tmp_path):
    rc, text = _run_in_pty(fit_argv(fit_inputs, tmp_path / "tty"), columns=90)
    assert rc == 0, text[-3000:]
    assert "neurodyn.progress" not in text  # no progress log lines
    bars = [part.split("\r\n")[0] for part in text.split("\r\x1b[K")[1:]]
    assert bars and all(len(bar) <= 90 for bar in bars), bars
    assert bars[0].startswith("osc/tty (smc_lowrank) [") and "epoch 1/4" in bars[0]
    assert "[####################] 100% epoch 4/4" in bars[-1]
    # the bar's line ends before the next log record (the pty turns "\n" into "\r\n")
    after = text.rsplit("\r\x1b[K", 1)[1]
    assert re.search(
        r"epoch 4/4 [^\r\n]*\r\n\S+ \S+ INFO neurodyn\.models\.smc_lowrank\.model: smc_lowrank: fit took", after
    )

    piped = subprocess.run(
        [NEURODYN, *fit_argv(fit_inputs, tmp_path / "piped")],
        capture_output=True,
        text=True,
    )
    assert piped.returncode == 0, piped.stderr[-3000:]
    assert "\x1b[K" not in piped.stderr
    assert "INFO neurodyn.progress: osc/piped (smc_lowrank): epoch 4/4 (100%)" in piped.stderr
