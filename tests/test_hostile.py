"""Hostile inputs: every bad file or option ends in one line naming it, exit 1, no traceback and
nothing left behind.

The malformed inputs are made with the real libraries (torch.save, numpy, edfio/mne, json) and
run through the real entry points: ``neurodyn.cli.main`` in process, and ``.venv/bin/neurodyn``
(or the interpreter with a file size limit) in a subprocess where the exit status and the exact
stderr matter.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import rotating_latent_dataset

from neurodyn.cli import main
from neurodyn.data.dataset import write_dataset
from neurodyn.models import get_family

REPO = Path(__file__).resolve().parents[1]
NEURODYN = REPO / ".venv" / "bin" / "neurodyn"
PYTHON = sys.executable
CPU = torch.device("cpu")
TORCH_ADVICE = ("weights_only=False", "weights_only` set to `False", "re-running")


# --- real inputs to spoil -----------------------------------------------------------------------


def small_dataset(n_channels: int = 6, n_trials: int = 12, n_time: int = 20, seed: int = 0):
    return rotating_latent_dataset(n_channels, n_trials, n_time, seed)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A dataset store, one of other channels, and an lds model fitted to the first."""
    root = tmp_path_factory.mktemp("inputs")
    ds = small_dataset()
    write_dataset(ds, root / "ds.zarr")
    write_dataset(small_dataset(n_channels=5), root / "ds5.zarr")
    get_family("lds").fit(ds, {"latent_dim": 2}, CPU).save(root / "model")
    return {"store": root / "ds.zarr", "store5": root / "ds5.zarr", "model": root / "model", "root": root}


def spoiled_model(inputs, tmp_path, *, tensors=None, meta=None, weights_bytes=None) -> Path:
    """A copy of the fitted model with its tensors or metadata rewritten by ``tensors``/``meta``."""
    directory = tmp_path / "model"
    shutil.copytree(inputs["model"], directory)
    if tensors is not None:
        saved = torch.load(directory / "weights.pt", weights_only=True)
        torch.save(tensors(saved), directory / "weights.pt")
    if meta is not None:
        doc = json.loads((directory / "model.json").read_text())
        (directory / "model.json").write_text(json.dumps(meta(doc)))
    if weights_bytes is not None:
        (directory / "weights.pt").write_bytes(weights_bytes)
    return directory


# --- how a failure must look ----------------------------------------------------------------------


def run_main(capsys, *argv) -> tuple[int, str, str]:
    """``neurodyn.cli.main(argv)``: (exit status, stdout, the error line); asserts it is one line
    without a traceback."""
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("neurodyn: error:")]
    assert "Traceback" not in captured.err, captured.err
    assert len(errors) == 1, captured.err
    return rc, captured.out, errors[0]


def refused(capsys, *argv, names: list[str | Path], says: list[str]) -> str:
    """Run ``main``; assert exit 1, no output, one error line naming every one of ``names`` and
    containing every phrase of ``says`` (and never PyTorch's advice to load unsafely)."""
    rc, out, line = run_main(capsys, *argv)
    assert rc == 1, line
    assert out == "", out
    for name in names:
        assert str(name) in line, line
    for phrase in says:
        assert phrase in line, line
    assert not any(advice in line for advice in TORCH_ADVICE), line
    return line


def left_in(folder: Path) -> list[str]:
    """Everything in ``folder`` (a failed command must add nothing, not even a temporary)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def run_cli(*argv, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(NEURODYN), *map(str, argv)], capture_output=True, text=True, timeout=240, env=env, check=False
    )


def assert_one_line_failure(proc: subprocess.CompletedProcess, *phrases: str) -> str:
    """Exit 1 and stderr exactly one line ``neurodyn: error: ...`` holding ``phrases``."""
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("neurodyn: error: ")
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    return lines[0]


# --- saved models ---------------------------------------------------------------------------------


MODEL_CASES = {
    "wrong_shape": (
        dict(tensors=lambda t: {**t, "A": torch.zeros(3, 3, dtype=torch.float64)}),
        "weights.pt",
        "its tensors do not make a 'lds' model",
    ),
    "missing_tensor": (
        dict(tensors=lambda t: {k: v for k, v in t.items() if k != "C"}),
        "weights.pt",
        "lacks the tensor 'C'",
    ),
    "meta_is_a_list": (dict(meta=lambda m: [m]), "model.json", "must hold a JSON object, got a list"),
    "meta_lacks_keys": (dict(meta=lambda m: {"family": "lds"}), "model.json", "lacks the key 'channels'"),
    "meta_lacks_family": (
        dict(meta=lambda m: {k: v for k, v in m.items() if k != "family"}),
        "model.json",
        "lacks the key 'family'",
    ),
    "unknown_family": (dict(meta=lambda m: {**m, "family": "nope"}), "model.json", "unknown model family 'nope'"),
    "wrong_family": (dict(meta=lambda m: {**m, "family": "plrnn_em"}), "weights.pt", "'plrnn_em' model needs"),
    "bad_channels_key": (dict(meta=lambda m: {**m, "channels": "abc"}), "model.json", "key 'channels' must be"),
    "heldin_out_of_range": (
        dict(meta=lambda m: {**m, "heldin_index": [0, 99]}),
        "model.json",
        "key 'heldin_index' must be",
    ),
    "meta_not_json": (dict(meta=None), "model.json", "is not valid JSON"),
    "weights_not_torch": (dict(weights_bytes=b"just some text\n"), "weights.pt", "is not a PyTorch file"),
    "weights_pickle": (dict(weights_bytes=None), "weights.pt", "refusing to unpickle"),
    "weights_not_a_dict": (dict(tensors=lambda t: [t["A"]]), "weights.pt", "flat dict of named tensors"),
    "all_nan": (
        dict(tensors=lambda t: {k: torch.full_like(v, float("nan")) for k, v in t.items()}),
        "weights.pt",
        "NaN or infinite",
    ),
}


def _make_case(inputs, tmp_path, case: str) -> Path:
    spec = MODEL_CASES[case][0]
    directory = spoiled_model(inputs, tmp_path, **{k: v for k, v in spec.items() if v is not None})
    if case == "meta_not_json":
        (directory / "model.json").write_text('{"family": "lds", ')
    if case == "weights_pickle":  # a real pickle of objects other than tensors
        torch.save({"A": torch.zeros(2), "payload": {"fn": print}}, directory / "weights.pt")
    return directory


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_a_spoiled_model_is_refused_by_export_weights_naming_the_file(inputs, tmp_path, capsys, case):
    directory = _make_case(inputs, tmp_path, case)
    _, file_name, problem = MODEL_CASES[case]
    out = tmp_path / "out"
    out.mkdir()
    refused(capsys, "export-weights", directory, out / "w.npz", names=[directory / file_name], says=[problem])
    assert left_in(out) == []


@pytest.mark.parametrize("case", ["wrong_shape", "missing_tensor", "meta_lacks_keys", "all_nan", "wrong_family"])
def test_a_spoiled_model_is_refused_by_analyze_before_any_output(inputs, tmp_path, capsys, case):
    directory = _make_case(inputs, tmp_path, case)
    _, file_name, problem = MODEL_CASES[case]
    refused(
        capsys,
        "analyze",
        inputs["store"],
        directory,
        tmp_path / "analysis",
        "--device",
        "cpu",
        names=[directory / file_name],
        says=[problem],
    )
    assert not (tmp_path / "analysis").exists()


def test_the_all_nan_model_names_the_file_and_tensor_not_an_internal_name(inputs, tmp_path, capsys):
    directory = _make_case(inputs, tmp_path, "all_nan")
    line = refused(capsys, "export-weights", directory, tmp_path / "w.npz", names=[directory / "weights.pt"], says=[])
    assert "tensor '" in line and "observed entries" not in line


def test_a_dataset_of_other_channels_is_refused_naming_both_paths(inputs, tmp_path, capsys):
    refused(
        capsys,
        "analyze",
        inputs["store5"],
        inputs["model"],
        tmp_path / "analysis",
        "--device",
        "cpu",
        names=[inputs["store5"], inputs["model"]],
        says=["other channels"],
    )
    assert not (tmp_path / "analysis").exists()


def test_a_model_with_nan_weights_fails_in_a_subprocess_with_exactly_one_line(inputs, tmp_path):
    directory = _make_case(inputs, tmp_path, "all_nan")
    proc = run_cli("export-weights", directory, tmp_path / "w.npz")
    assert_one_line_failure(proc, str(directory / "weights.pt"), "NaN")
    assert proc.stdout == "" and not (tmp_path / "w.npz").exists()


# --- checkpoints ----------------------------------------------------------------------------------


SMC_OPTIONS = {
    "rank": 2,
    "n_units": 8,
    "particles": 4,
    "epochs": 2,
    "batch_size": 4,
    "checkpoint_every": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def checkpoint(inputs) -> dict[str, Path]:
    """A real smc_lowrank checkpoint of a two-epoch fit, written by ``neurodyn fit``."""
    root = inputs["root"]
    config = root / "smc.json"
    config.write_text(json.dumps(SMC_OPTIONS))
    rc = main(
        [
            "fit",
            str(inputs["store"]),
            str(root / "smc_model"),
            "--family",
            "smc_lowrank",
            "--config",
            str(config),
            "--checkpoint-dir",
            str(root / "ckpt"),
        ]
    )
    assert rc == 0
    return {"config": config, "file": root / "ckpt" / "checkpoint.pt"}


def spoiled_checkpoint(checkpoint, tmp_path, change) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    state = torch.load(checkpoint["file"], weights_only=True)
    result = change(state)
    if isinstance(result, bytes):
        (folder / "checkpoint.pt").write_bytes(result)
    else:
        torch.save(result, folder / "checkpoint.pt")
    return folder / "checkpoint.pt"


def _with(state, **changes):
    return {**state, **changes}


def _resized_net(state):
    net = dict(state["net"])
    name = next(iter(net))
    net[name] = torch.zeros(*(s + 1 for s in net[name].shape), dtype=net[name].dtype)
    return {**state, "net": net}


CHECKPOINT_CASES = {
    "not_a_dict": (lambda s: [s["epoch"]], "is not a neurodyn checkpoint"),
    "no_fingerprint": (lambda s: {k: v for k, v in s.items() if k != "fingerprint"}, "no fingerprint"),
    "wrong_shapes": (_resized_net, "does not fit this model"),
    "epoch_beyond_configured": (lambda s: _with(s, epoch=1000), "claims epoch 1000"),
    "negative_epoch": (lambda s: _with(s, epoch=-3), "claims epoch -3"),
    "lacks_the_network": (lambda s: {k: v for k, v in s.items() if k != "net"}, "lacks the checkpoint entry 'net'"),
    "not_torch": (lambda s: b"PK\x03\x04 not really a zip", "is not a PyTorch file"),
    "pickled_objects": (lambda s: {**s, "extra": {"fn": print}}, "refusing to unpickle"),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_a_spoiled_checkpoint_is_refused_on_resume(inputs, checkpoint, tmp_path, capsys, case):
    change, problem = CHECKPOINT_CASES[case]
    path = spoiled_checkpoint(checkpoint, tmp_path, change)
    line = refused(
        capsys,
        "fit",
        inputs["store"],
        tmp_path / "model",
        "--family",
        "smc_lowrank",
        "--config",
        checkpoint["config"],
        "--checkpoint-dir",
        path.parent,
        "--resume",
        names=[path],
        says=[problem],
    )
    assert "weights_only" not in line.replace("weights_only=True", "")
    assert not (tmp_path / "model").exists()  # never saved as a model without training
    assert left_in(path.parent) == ["checkpoint.pt"]


def test_a_checkpoint_from_another_configuration_is_set_aside_with_a_warning(
    inputs, checkpoint, tmp_path, capsys, caplog
):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    shutil.copy(checkpoint["file"], folder / "checkpoint.pt")
    config = tmp_path / "other.json"
    config.write_text(json.dumps({**SMC_OPTIONS, "epochs": 1}))
    rc = main(
        [
            "fit",
            str(inputs["store"]),
            str(tmp_path / "model"),
            "--family",
            "smc_lowrank",
            "--config",
            str(config),
            "--checkpoint-dir",
            str(folder),
            "--resume",
        ]
    )
    assert rc == 0
    assert "from another configuration; starting afresh" in caplog.text
    assert (tmp_path / "model" / "weights.pt").is_file()


def test_plrnn_em_refuses_a_checkpoint_beyond_its_annealing_stages(tmp_path, caplog):
    from neurodyn.errors import InputFileError

    family = get_family("plrnn_em")
    ds = small_dataset(n_channels=4)
    options = {**family.quick_options, "em_iters": [1, 1, 1, 1, 1], "restarts": 1}
    family.fit(ds, options, CPU, checkpoint_dir=tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    torch.save({**state, "stage": 40, "iteration": 0}, tmp_path / "checkpoint.pt")
    with pytest.raises(InputFileError, match="claims stage 40"):
        family.fit(ds, options, CPU, checkpoint_dir=tmp_path, resume=True)
    torch.save({**state, "stage": 0, "iteration": 0, "params.W": torch.zeros(7, 7)}, tmp_path / "checkpoint.pt")
    with pytest.raises(InputFileError, match=r"'params.W' is \(7, 7\)"):
        family.fit(ds, options, CPU, checkpoint_dir=tmp_path, resume=True)


# --- analysis outputs read by the report ----------------------------------------------------------


@pytest.fixture(scope="module")
def analysis(inputs) -> Path:
    out = inputs["root"] / "analysis"
    assert main(["analyze", str(inputs["store"]), str(inputs["model"]), str(out), "--device", "cpu"]) == 0
    return out


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object, got a list"),
        ('{"protocol": {}}', "lacks the key 'metrics'"),
        ('{"metrics": [], "protocol": {}}', "key 'metrics' must be an object"),
    ],
)
def test_a_spoiled_metrics_json_is_refused_by_the_report(inputs, analysis, tmp_path, capsys, content, problem):
    folder = tmp_path / "analysis"
    shutil.copytree(analysis, folder)
    (folder / "metrics.json").write_text(content)
    out = tmp_path / "report"
    out.mkdir()
    refused(
        capsys,
        "report",
        inputs["store"],
        out / "r.html",
        "--analysis",
        f"m={folder}",
        names=[folder / "metrics.json"],
        says=[problem],
    )
    assert left_in(out) == []


def test_the_report_refuses_a_missing_analysis_folder_and_an_unreadable_ground_truth(
    inputs, analysis, tmp_path, capsys
):
    refused(
        capsys,
        "report",
        inputs["store"],
        tmp_path / "r.html",
        "--analysis",
        f"m={tmp_path / 'nothing'}",
        names=[tmp_path / "nothing"],
        says=["no such analysis output folder"],
    )
    truth = tmp_path / "teacher.json"
    truth.write_text("[]")
    refused(
        capsys,
        "report",
        inputs["store"],
        tmp_path / "r.html",
        "--analysis",
        f"m={analysis}",
        "--ground-truth",
        truth,
        names=[truth],
        says=["must hold a JSON object"],
    )
    assert left_in(tmp_path) == ["teacher.json"]


# --- arrays ---------------------------------------------------------------------------------------


def _malformed_npy(path: Path) -> Path:
    np.save(path, np.zeros((50, 2), np.float32))
    raw = path.read_bytes()
    start = raw.index(b"{")
    path.write_bytes(raw[:start] + b"{'descr': '<f4', 'shape': (50, 2), ((((" + raw[start + 41 :])
    return path


def test_array_sources(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    bad = _malformed_npy(tmp_path / "bad.npy")
    refused(capsys, "ingest", bad, out / "d.zarr", "--sfreq", "100", names=[bad], says=["not a readable NumPy array"])
    archive = tmp_path / "a.npz"
    np.savez(archive, x=np.zeros((50, 2)), y=np.zeros((50, 2)))
    refused(
        capsys,
        "ingest",
        archive,
        out / "d.zarr",
        "--sfreq",
        "100",
        "--key",
        "z",
        names=[archive],
        says=["has no array 'z'"],
    )
    values = np.random.default_rng(0).normal(size=(200, 3))
    values[17, 2] = np.nan
    holed = tmp_path / "holed.npy"
    np.save(holed, values)
    refused(
        capsys,
        "ingest",
        holed,
        out / "d.zarr",
        "--sfreq",
        "100",
        names=[holed],
        says=["non-finite", "sample 17, channel 2"],
    )
    assert left_in(out) == []


# --- EDF ------------------------------------------------------------------------------------------


def _write_edf(path: Path, rates: list[int], labels: list[str], seconds: int = 4) -> Path:
    """An EDF written with edfio (the writer mne exports with), one signal per rate."""
    import edfio

    rng = np.random.default_rng(1)
    signals = [
        edfio.EdfSignal(
            rng.normal(scale=20.0, size=rate * seconds),
            sampling_frequency=rate,
            label=label,
            physical_dimension="uV",
            physical_range=(-200.0, 200.0),
        )
        for rate, label in zip(rates, labels, strict=True)
    ]
    edfio.Edf(signals).write(path)
    return path


def _set_digital_range(path: Path, index: int, low: int, high: int) -> None:
    """Rewrite signal ``index``'s digital minimum and maximum in the header, in place."""
    raw = bytearray(path.read_bytes())
    n = int(raw[252:256].decode())
    for offset, value in ((256 + 120 * n, low), (256 + 128 * n, high)):
        raw[offset + 8 * index : offset + 8 * index + 8] = f"{value:<8d}".encode()
    path.write_bytes(bytes(raw))


def test_an_edf_channel_without_a_digital_range_is_refused_naming_it(tmp_path, capsys):
    path = _write_edf(tmp_path / "flat.edf", [100, 100, 100], ["Fz", "Cz", "Pz"])
    _set_digital_range(path, 1, -32768, -32768)
    out = tmp_path / "out"
    out.mkdir()
    refused(capsys, "ingest", path, out / "d.zarr", names=[path], says=["channel 'Cz'", "digital minimum -32768"])
    assert left_in(out) == []


def test_edf_channels_at_different_rates_need_resample_hz(tmp_path, capsys, caplog):
    path = _write_edf(tmp_path / "mixed.edf", [100, 100, 50], ["Fz", "Cz", "EMG"])
    out = tmp_path / "out"
    out.mkdir()
    refused(
        capsys,
        "ingest",
        path,
        out / "d.zarr",
        names=[path],
        says=["different rates", "EMG at 50 Hz", "Fz, Cz at 100 Hz", "resample_hz"],
    )
    assert left_in(out) == []
    # channels of one rate are read as they are, and resample_hz reads them all with a warning
    assert main(["ingest", str(path), str(out / "one.zarr"), "--channels", "Fz", "Cz"]) == 0
    assert main(["ingest", str(path), str(out / "all.zarr"), "--resample-hz", "100"]) == 0
    assert "EMG at 50 Hz" in caplog.text and "resampled to 100 Hz" in caplog.text
    capsys.readouterr()


# --- option values --------------------------------------------------------------------------------


@pytest.fixture
def npy_source(tmp_path) -> Path:
    path = tmp_path / "signal.npy"
    np.save(path, np.random.default_rng(0).normal(size=(2000, 3)).astype(np.float32))
    return path


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--window", "0", "inf"], "window"),
        (["--segment-length", "0"], "segment_length"),
        (["--seed", "-1"], "seed"),
        (["--sfreq", "nan"], "sfreq"),
        (["--sfreq", "-5"], "sfreq"),
    ],
)
def test_hostile_ingest_options_are_refused_naming_the_option(npy_source, tmp_path, capsys, flags, field):
    args = flags if "--sfreq" in flags else ["--sfreq", "100", *flags]
    out = tmp_path / "out"
    out.mkdir()
    refused(capsys, "ingest", npy_source, out / "d.zarr", *args, names=[field], says=[])
    assert left_in(out) == []


def test_block_mb_nan_is_a_usage_error_with_status_2(npy_source, tmp_path):
    proc = run_cli("ingest", npy_source, tmp_path / "d.zarr", "--sfreq", "100", "--block-mb", "nan")
    assert proc.returncode == 2 and "--block-mb" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "d.zarr").exists()


@pytest.mark.parametrize(
    ("options", "field", "problem"),
    [
        ({"latent_dim": 2.7}, "latent_dim", "expected an integer"),
        ({"latent_dim": "two"}, "latent_dim", "expected an integer"),
        ({"latent_dim": 0}, "latent_dim", ">= 1"),
        ({"ridge": "nan"}, "ridge", "NaN"),
        ({"seed": -1}, "seed", ">= 0"),
    ],
)
def test_model_options_of_wrong_type_or_value_are_refused(inputs, tmp_path, capsys, options, field, problem):
    config = tmp_path / "lds.json"
    config.write_text(json.dumps(options))
    refused(
        capsys,
        "fit",
        inputs["store"],
        tmp_path / "model",
        "--config",
        config,
        names=[f"models.lds.{field}"],
        says=[problem],
    )
    assert not (tmp_path / "model").exists()


def test_a_latent_dim_beyond_the_channels_is_clamped_with_a_warning(inputs, tmp_path, caplog, capsys):
    config = tmp_path / "lds.json"
    config.write_text(json.dumps({"latent_dim": 1000}))
    assert main(["fit", str(inputs["store"]), str(tmp_path / "model"), "--config", str(config)]) == 0
    assert "latent_dim 1000 is more than the data allow" in caplog.text
    assert json.loads((tmp_path / "model" / "model.json").read_text())["latent_dim"] == 4  # held-in channels


def test_synthesize_refuses_an_absurd_size_up_front(tmp_path, capsys):
    config = tmp_path / "huge.json"
    config.write_text(json.dumps({"n_trials": 10**9}))
    refused(capsys, "synthesize", tmp_path / "out", "--config", config, names=["synthetic"], says=["GiB of memory"])
    assert not (tmp_path / "out").exists()


def test_an_output_whose_parent_is_a_file_is_refused_before_any_work(inputs, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for argv, out in [
        (["export-weights", inputs["model"], blocker / "w.npz"], blocker / "w.npz"),
        (["fit", inputs["store"], blocker / "model"], blocker / "model"),
        (["analyze", inputs["store"], inputs["model"], blocker / "sub" / "analysis"], blocker / "sub" / "analysis"),
        (["synthesize", blocker / "out"], blocker / "out"),
    ]:
        refused(capsys, *argv, names=[out], says=[f"{blocker} is a file, not a folder"])
    assert left_in(tmp_path) == ["a_file"]


def test_an_output_file_that_is_a_folder_is_not_replaced(inputs, tmp_path, capsys):
    folder = tmp_path / "w.npz"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    refused(capsys, "export-weights", inputs["model"], folder, names=[folder], says=["is a folder"])
    assert (folder / "keep.txt").read_text() == "mine"


# --- a full disk ----------------------------------------------------------------------------------


def _run_with_file_size_limit(limit_bytes: int, argv: list[str]) -> subprocess.CompletedProcess:
    """``neurodyn.cli.main(argv)`` in a subprocess whose files cannot grow past ``limit_bytes``
    (RLIMIT_FSIZE, with SIGXFSZ ignored so that a write fails with EFBIG as on a full disk)."""
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))\n"
        "from neurodyn.cli import main\n"
        f"sys.exit(main({[str(a) for a in argv]!r}))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=240, env=env, check=False)


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in proc.stderr, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.startswith("neurodyn: error:")]


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_FSIZE)[0] not in (resource.RLIM_INFINITY,), reason="limited")
def test_a_json_output_on_a_full_disk_is_named_and_nothing_is_left(tmp_path):
    weights = tmp_path / "lr.npz"
    rng = np.random.default_rng(0)
    np.savez(
        weights, M=rng.normal(size=(6, 2)), N=rng.normal(size=(6, 2)), h=np.zeros(6), a=0.5, nonlinearity="clipped"
    )
    out = tmp_path / "out"
    out.mkdir()
    proc = _run_with_file_size_limit(100, ["fixed-points", str(weights), "--out", str(out / "fp.json")])
    assert proc.returncode == 1
    (line,) = _error_lines(proc)
    assert str(out / "fp.json") in line and "file size limit" in line
    assert left_in(out) == []


@pytest.mark.skipif(resource.getrlimit(resource.RLIMIT_FSIZE)[0] not in (resource.RLIM_INFINITY,), reason="limited")
def test_a_store_on_a_full_disk_is_named_and_nothing_is_left(npy_source, inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    proc = _run_with_file_size_limit(2000, ["ingest", str(npy_source), str(out / "d.zarr"), "--sfreq", "100"])
    assert proc.returncode == 1
    (line,) = _error_lines(proc)
    assert str(out / "d.zarr") in line and "file size limit" in line
    assert left_in(out) == []
    # a fitted model's folder: torch's writer fails and says the disk may be full
    proc = _run_with_file_size_limit(2000, ["fit", str(inputs["store"]), str(out / "model")])
    assert proc.returncode == 1
    (line,) = _error_lines(proc)
    assert str(out / "model") in line and ("file size limit" in line or "disk is full" in line or "disk full" in line)
    assert left_in(out) == []


# --- the command-line edge ------------------------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_its_traceback_comes_with_v(inputs, tmp_path, capsys, monkeypatch):
    import neurodyn.stages

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero in a stage")

    monkeypatch.setattr(neurodyn.stages, "analyze_stage", broken)
    argv = ["analyze", inputs["store"], inputs["model"], tmp_path / "a"]
    rc, out, line = run_main(capsys, *argv)
    assert rc == 1
    assert line == (
        "neurodyn: error: unexpected ZeroDivisionError: division by zero in a stage (run with -v for the traceback)"
    )
    assert main(["-v", *map(str, argv)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "neurodyn: error: unexpected ZeroDivisionError" in err


def test_os_errors_on_user_paths_name_the_path(inputs, tmp_path, capsys):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    refused(
        capsys,
        "fit",
        inputs["store"],
        tmp_path / "model",
        "--config",
        folder,
        names=[folder],
        says=["cannot be read"],
    )
    refused(
        capsys,
        "report",
        inputs["store"],
        tmp_path / "r.html",
        "--ground-truth",
        folder,
        names=[folder],
        says=["cannot be read"],
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_names_the_path(inputs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(
            capsys,
            "export-weights",
            inputs["model"],
            locked / "w.npz",
            names=[locked / "w.npz"],
            says=["no permission"],
        )
    finally:
        locked.chmod(0o700)


def test_a_usage_error_keeps_status_2(tmp_path):
    proc = run_cli("fixed-points")
    assert proc.returncode == 2 and "usage:" in proc.stderr and "Traceback" not in proc.stderr


def test_a_stage_logs_warnings_and_a_bugs_traceback_to_its_log(tmp_path):
    import warnings

    from neurodyn.stages.logs import stage_logging

    log_path = tmp_path / "logs" / "fit.log"
    with pytest.raises(SystemExit) as exited, stage_logging(log_path):
        warnings.warn("a user-visible warning", UserWarning, stacklevel=1)
        raise ValueError("a bug\nover two lines")
    assert exited.value.code == 1
    text = log_path.read_text()
    assert "a user-visible warning" in text
    assert "ERROR neurodyn: unexpected ValueError: a bug over two lines" in text and "Traceback" in text
