"""The workflow through a real SLURM: a single-node cluster on this machine (Debian's slurm-wlm and
munge: munged, slurmctld and slurmd started by the test, as the current user, in a temporary
directory, on free ports), driven by ``--workflow-profile workflow/profiles/slurm`` and a user
profile holding the site settings, as a user on a cluster would run it.

The cluster has two partitions, ``cpu`` and ``gpu``, over the one node. The node declares one GPU
as a generic resource whose device file is /dev/null: SLURM accounts for it (``--gpus=1`` is
accepted and recorded, a job asking for two is refused) but no GPU exists, so a fit that asks for
one runs on the CPU, as fits do where CUDA is absent. No accounting daemon: the executor plugin
polls with ``squeue`` and the test reads each job back from ``scontrol show job`` (jobs stay there
for MinJobAge = 10 minutes after they end) and from the job completion log.

Install the daemons with ``apt-get install -y slurm-wlm munge`` (``.ci/run`` does when they are
missing); without them the test is skipped with that reason.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO

# about 3.5 minutes (each of the four levels of jobs starts Snakemake in a job): outside the default run
pytestmark = [pytest.mark.integration, pytest.mark.slow]

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "squeue", "scontrol", "sinfo", "scancel")

# two datasets, two models: a CPU fit and a GPU fit, each with its own threads, memory and time,
# and an analyze job with its own size for the GPU model
MODELS = {
    "lds_cpu": {"family": "lds", "latent_dim": 3, "smoothing_s": 0.02, "gpus": 0, "threads": 2, "mem_mb": 3000,
                "runtime": 7},
    "lds_gpu": {"family": "lds", "latent_dim": 2, "smoothing_s": 0.02, "gpus": 1, "threads": 1, "cpus_per_gpu": 3,
                "mem_mb": 2500, "runtime": 9, "analyze_mem_mb": 1500, "analyze_runtime": 5, "analyze_threads": 2},
}  # fmt: skip
CONFIG = {
    "synthetic": {"tiny": {"seed": 1, "n_units": 20, "n_trials": 40, "n_conditions": 4}},
    "models": MODELS,
    "analysis": {"smoothing_s": 0.02, "distill": False},
    "datasets": {
        "spikes": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "nwb", "inputs": ["stimulus"]},
            "binning": {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]},
            "split": {"column": "data_split"},
            "models": ["lds_cpu", "lds_gpu"],
        },
        "eeg": {
            "source": {"kind": "synthetic", "generator": "tiny", "file": "edf"},
            "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 2.0, "zscore": True},
            "models": ["lds_cpu"],
        },
    },
}
ACCOUNT = "neurodyn-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_conf(run: Path, host: str, user: str, socket_path: Path) -> str:
    """A one-node cluster: 8 CPUs, 32 GB and one GPU as SLURM sees them (``config_overrides``: the
    node's declared size, not the machine's, so jobs of a few CPUs fit on a small CI machine)."""
    return f"""\
ClusterName=neurodyn
SlurmctldHost={host}(127.0.0.1)
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
StateSaveLocation={run}/state
SlurmdSpoolDir={run}/spool
SlurmctldPidFile={run}/slurmctld.pid
SlurmdPidFile={run}/slurmd.pid
SlurmctldLogFile={run}/slurmctld.log
SlurmdLogFile={run}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc={run}/jobcomp.txt
MinJobAge=600
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs=8 RealMemory=32000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
"""


def stop(pid_files: list[Path]) -> None:
    """SIGTERM each daemon this test started (by the pid it wrote), SIGKILL what is left after 10 s."""
    pids = []
    for pid_file in pid_files:
        try:
            pids.append(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running single-node SLURM; yields the environment that points SLURM's commands at it."""
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        pytest.skip(f"no {', '.join(missing)}: install with `apt-get install -y slurm-wlm munge` (.ci/run does)")
    run = tmp_path_factory.mktemp("slurm")
    for folder in ("state", "spool"):
        (run / folder).mkdir()
    host = socket.gethostname().split(".")[0]
    user = getpass.getuser()
    key = run / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)
    socket_path = run / "munge.sock"
    (run / "slurm.conf").write_text(slurm_conf(run, host, user, socket_path))
    (run / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_", "SNAKEMAKE_PROFILE"))}
    env["SLURM_CONF"] = str(run / "slurm.conf")
    # a site's srun reads /etc/slurm/slurm.conf; this cluster's file is in the temporary directory and
    # the executor's job step drops SLURM_* variables before it calls srun, so the srun it finds
    # first on PATH names the file
    wrappers = run / "bin"
    wrappers.mkdir()
    srun = wrappers / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={run / "slurm.conf"} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)
    env["PATH"] = f"{wrappers}{os.pathsep}{env.get('PATH', '')}"
    pid_files = [run / "munged.pid", run / "slurmctld.pid", run / "slurmd.pid"]
    commands = [
        ["munged", f"--socket={socket_path}", f"--key-file={key}", f"--pid-file={run}/munged.pid",
         f"--log-file={run}/munged.log", f"--seed-file={run}/munged.seed", "--force"],
        ["slurmctld"],
        ["slurmd", "-N", host],
    ]  # fmt: skip
    try:
        for command in commands:
            started = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
            if started.returncode != 0:
                pytest.skip(f"{command[0]} did not start: {(started.stderr or started.stdout).strip()[-500:]}")
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True).stdout
            if state.split() and all(s == "idle" for s in state.split()):
                break
            time.sleep(0.5)
        else:
            logs = "".join(
                (run / name).read_text()[-800:] for name in ("slurmctld.log", "slurmd.log") if (run / name).exists()
            )
            pytest.skip(f"the SLURM node did not come up (sinfo: {state.strip()!r}): {logs}")
        yield {"env": env, "run": run}
    finally:
        subprocess.run(["scancel", "-u", user], env=env, capture_output=True)
        stop(pid_files[::-1])


def scontrol_jobs(env: dict[str, str]) -> list[dict[str, str]]:
    """Every job the controller still holds, as its ``key=value`` fields."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], env=env, capture_output=True, text=True, check=True)
    return [dict(re.findall(r"(\S+?)=(\S*)", line)) for line in out.stdout.splitlines() if line.startswith("JobId=")]


def minutes(limit: str) -> int:
    """A SLURM time limit ([D-]HH:MM:SS) in minutes."""
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days) if days else 0) * 1440 + h * 60 + m + (1 if s else 0)


def test_jobs_are_submitted_as_their_models_ask(cluster, tmp_path):
    """A tiny configuration through the SLURM profiles completes; every fit and analyze job was
    submitted to the partition, with the memory, time limit, CPUs (and GPU) of its model entry;
    the data and report jobs ran grouped on the CPU partition; the index ran without a job."""
    env = cluster["env"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    site = tmp_path / "site"
    site.mkdir()
    (site / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "default-resources": {"slurm_account": ACCOUNT, "slurm_partition": "cpu", "slurm_gpu_partition": "gpu"},
                "slurm-status-command": "squeue",  # no accounting daemon: poll the queue
                "slurm-init-seconds-before-status-checks": 1,
                "seconds-between-status-checks": 2,
            }
        )
    )
    command = [
        SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
        "--profile", str(site), "--workflow-profile", str(REPO / "workflow" / "profiles" / "slurm"),
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-6000:]
    for name in ("spikes", "eeg"):
        assert (tmp_path / "results" / name / "report.html").is_file()
    assert (tmp_path / "results" / "index.html").is_file()

    jobs = scontrol_jobs(env)
    by_comment = {job["Comment"]: job for job in jobs}
    print(f"\nrun took {elapsed:.0f} s; {len(jobs)} SLURM jobs")
    for job in jobs:
        print(" ", *(f"{k}={job.get(k)}" for k in ("JobId", "Comment", "Partition", "TimeLimit", "NumCPUs", "TRES",
                                                    "TresPerJob", "CpusPerTres", "Account", "JobState")))  # fmt: skip
    assert all(job["JobState"] == "COMPLETED" for job in jobs), jobs
    assert all(job["Account"] == ACCOUNT for job in jobs)

    def expect(comment: str, partition: str, mem_mb: int, runtime: int, cpus: int, gpus: int) -> None:
        assert comment in by_comment, sorted(by_comment)
        job = by_comment[comment]
        assert job["Partition"] == partition, (comment, job)
        assert re.search(rf"(^|,)mem={mem_mb}M(,|$)", job["TRES"]), (comment, job["TRES"])
        assert minutes(job["TimeLimit"]) == runtime, (comment, job["TimeLimit"])
        assert int(job["NumCPUs"]) == cpus, (comment, job["NumCPUs"])
        assert ("gres:gpu:1" in job.get("TresPerJob", "")) == bool(gpus), (comment, job.get("TresPerJob"))

    cpu, gpu = MODELS["lds_cpu"], MODELS["lds_gpu"]
    for dataset in ("spikes", "eeg"):
        expect(f"rule_fit_wildcards_{dataset}_lds_cpu", "cpu", cpu["mem_mb"], cpu["runtime"], cpu["threads"], 0)
        expect(f"rule_analyze_wildcards_{dataset}_lds_cpu", "cpu", 4000, 60, 1, 0)  # the JobResources defaults
    expect("rule_fit_wildcards_spikes_lds_gpu", "gpu", gpu["mem_mb"], gpu["runtime"], gpu["cpus_per_gpu"], 1)
    expect("rule_analyze_wildcards_spikes_lds_gpu", "cpu", gpu["analyze_mem_mb"], gpu["analyze_runtime"], 2, 0)

    # the seconds-long jobs share submissions: every data job (synthesize, 2 ingest, 2 bin) in one,
    # both reports in another; the index is a local rule
    others = [job for job in jobs if not job["Comment"].startswith(("rule_fit_", "rule_analyze_"))]
    assert len(others) == 2, [job["Comment"] for job in others]
    assert all(job["Partition"] == "cpu" for job in others)
    assert len(jobs) == 3 + 3 + 2
    # the job completion log agrees on partition and size
    completed = (cluster["run"] / "jobcomp.txt").read_text()
    fit_gpu = by_comment["rule_fit_wildcards_spikes_lds_gpu"]
    assert re.search(rf"JobId={fit_gpu['JobId']} .*Partition=gpu TimeLimit=9 .*ProcCnt=3 .*mem=2500M", completed)
