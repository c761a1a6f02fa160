"""A real Snakemake run killed with SIGKILL in the middle of a fit resumes from its checkpoint on rerun."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO

pytestmark = pytest.mark.integration

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
# enough that the fit cannot finish between the poll that sees epoch 4 and the kill: an epoch of
# this small model takes milliseconds
EPOCHS = 400

CONFIG = {
    "models": {
        "smc": {
            "family": "smc_lowrank",
            "n_units": 8,
            "rank": 2,
            "epochs": EPOCHS,
            "checkpoint_every": 1,
            "particles": 4,
            "batch_size": 4,
            "encoder_kernels": [5, 1],
            "encoder_channels": [4],
            "eval_particles": 4,
            "gpus": 0,
        }
    },
    "datasets": {
        "osc": {
            "source": {"kind": "array", "path": "oscillator.npy", "sfreq": 100.0, "channel_names": ["x", "y"]},
            "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 0.5, "zscore": True},
            "heldout": {"fraction": 0.0},
            "models": ["smc"],
        }
    },
}


def _command(workdir: Path) -> list[str]:
    target = "results/osc/models/smc"  # before --configfile, which takes every word after it
    return [SNAKEMAKE, target, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "1"] + [
        "--configfile",
        str(workdir / "config.yaml"),
    ]


def _last_logged_epoch(log: Path) -> int:
    """The latest epoch the fit's progress lines report (0 before the first)."""
    text = log.read_text() if log.is_file() else ""
    return max((int(n) for n in re.findall(r"epoch (\d+)/", text)), default=0)


def test_a_workflow_killed_mid_fit_resumes_from_its_checkpoint(tmp_path):
    t = np.arange(2000) / 100.0
    rng = np.random.default_rng(0)
    signal_xy = np.stack([np.sin(2 * np.pi * 2 * t), np.cos(2 * np.pi * 2 * t)], axis=1)
    np.save(tmp_path / "oscillator.npy", signal_xy + 0.1 * rng.normal(size=signal_xy.shape))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    checkpoint = tmp_path / "results/osc/checkpoints/smc/checkpoint.pt"
    log = tmp_path / "results/osc/logs/fit_smc.log"

    run = subprocess.Popen(_command(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not checkpoint.is_file() or _last_logged_epoch(log) < 4:
            assert run.poll() is None, "the run ended before it could be killed: " + run.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.2)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)  # snakemake and its job, mid-fit
        run.wait()
    assert not (tmp_path / "results/osc/models/smc").exists()  # nothing under the final name

    # Snakemake keeps the killed run's lock; releasing it is the documented first step
    unlock = subprocess.run([*_command(tmp_path), "--unlock"], capture_output=True, text=True)
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    rerun = subprocess.run(_command(tmp_path), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    text = log.read_text()
    resumed = [line for line in text.splitlines() if "resumed from" in line]
    assert resumed, text[-3000:]
    epoch = int(resumed[-1].rsplit("epoch", 1)[1].split()[0])
    assert 1 <= epoch < EPOCHS
    assert (tmp_path / "results/osc/models/smc/model.json").is_file()
    leftovers = [p.name for p in (tmp_path / "results/osc/models").iterdir() if p.name != "smc"]
    assert leftovers == []
