"""The sessions sheet (one TSV row per recording → one dataset), the index that survives failed
sessions, and the workflow configuration's one-line errors: unit tests of the expansion and the
checks, and real Snakemake runs in a temporary directory."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import REPO
from markupsafe import escape

from neurodyn.errors import ConfigError
from neurodyn.report import build_index
from neurodyn.stages.report import error_line, failed_jobs, index_stage, job_failure, rebuild_index
from neurodyn.stages.sessions import SessionSheetError, expand_sessions, locate_in_sheet, read_sessions
from neurodyn.stages.workflow_checks import prepare_workflow_config, schema_problem

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

LDS = {"lds": {"family": "lds", "latent_dim": 2, "smoothing_s": 0.0, "gpus": 0}}
# every row of the sheets below starts from this template unless it names another
TEMPLATE = {
    "source": {"kind": "array", "sfreq": 100.0},
    "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 1.0, "zscore": True},
    "heldout": {"fraction": 0.25},
    "analysis": {"smoothing_s": 0.0, "distill": False},
    "models": ["lds"],
}


def write_sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(cells) for cells in [header, *rows]) + "\n")
    return path


def write_recording(path: Path, seed: int, n_samples: int = 1200, n_channels: int = 4) -> Path:
    """A (sample × channel) array at 100 Hz: mixtures of a 3 Hz rotation plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 100.0
    latents = np.stack([np.sin(2 * np.pi * 3 * t), np.cos(2 * np.pi * 3 * t)], axis=1)
    data = latents @ rng.normal(size=(2, n_channels)) + 0.1 * rng.normal(size=(n_samples, n_channels))
    np.save(path, data.astype(np.float32))
    return path


def sheet_config(sheet: Path, **extra) -> dict:
    return {"sessions": str(sheet), "session_templates": {"default": copy.deepcopy(TEMPLATE)}, "models": LDS, **extra}


# ----------------------------------------------------------------------------- reading the sheet


def test_rows_read_with_yaml_values_and_comments(tmp_path):
    sheet = tmp_path / "s.tsv"
    sheet.write_text(
        "# recordings of the week\n"
        "name\tpath\tkind\ttemplate\tmodels\tbinning.bin_size_s\tbinning.window_s\tsource.channel_names\n"
        "a-1\tx.npy\tarray\t\tlds, gp\t0.01\t[-0.2, 0.8]\t\n"
        "\n"
        "b_2\ty.edf\t\tfast\t\tnull\t\t[c3, c4]\n"
    )
    a, b = read_sessions(sheet)
    assert a == {
        "line": 3,
        "name": "a-1",
        "path": "x.npy",
        "kind": "array",
        "template": None,
        "models": ["lds", "gp"],
        "overrides": {"binning.bin_size_s": 0.01, "binning.window_s": [-0.2, 0.8]},
    }
    assert b["line"] == 5 and b["kind"] is None and b["template"] == "fast" and b["models"] is None
    assert b["overrides"] == {"binning.bin_size_s": None, "source.channel_names": ["c3", "c4"]}


@pytest.mark.parametrize(
    "text, line, column, problem",
    [
        ("name\tkind\nx\tarray\n", 1, "path", "is missing"),
        ("path\tkind\nx.npy\tarray\n", 1, "name", "is missing"),
        ("name\tpath\tname\nx\ty\tz\n", 1, "name", "appears twice"),
        ("name\tpath\tbinnig.bin_size_s\nx\ty\t1\n", 1, "binnig.bin_size_s", "unknown column"),
        ("name\tpath\tcolour\nx\ty\tred\n", 1, "colour", "unknown column"),
        ("name\tpath\tsource.path\nx\ty\tz\n", 1, "source.path", "in the 'path' column"),
        ("name\tpath\nx\ty\textra\n", 2, None, "3 tab-separated cells, the header 2"),
        ("name\tpath\nx\ty\n\t z.npy\n", 3, "name", "is empty"),
        ("name\tpath\nx\t\n", 2, "path", "is empty"),
        ("name\tpath\nbad name\ty\n", 2, "name", "only letters, digits"),
        ("name\tpath\na\ty\nb\ty\na\tz\n", 4, "name", "also the name on line 2"),
        ("name\tpath\tkind\na\ty\tmat\n", 2, "kind", "must be one of nwb, edf, array"),
        ("name\tpath\tmodels\na\ty\tlds;gp\n", 2, "models", "comma-separated model names"),
        ("name\tpath\tbinning.window_s\na\ty\t[0, 1\n", 2, "binning.window_s", "cannot read '[0, 1' as a YAML"),
        ("name\tpath\n", 1, None, "no sessions"),
        ("# nothing\n\n", None, None, "is empty"),
    ],
)
def test_each_sheet_problem_names_sheet_line_and_column(tmp_path, text, line, column, problem):
    sheet = tmp_path / "sessions.tsv"
    sheet.write_text(text)
    with pytest.raises(SessionSheetError) as caught:
        read_sessions(sheet)
    error = caught.value
    assert (error.line, error.column) == (line, column) and problem in str(error)
    assert str(error).startswith(str(sheet) + (f", line {line}" if line else ""))
    assert isinstance(error, ConfigError) and "\n" not in str(error)


def test_missing_sheet_is_one_line(tmp_path):
    with pytest.raises(SessionSheetError, match=r"absent\.tsv: no such file"):
        read_sessions(tmp_path / "absent.tsv")


# ----------------------------------------------------------------------------- expanding it


def test_rows_become_datasets_from_their_templates(tmp_path):
    nwb_like = tmp_path / "b.npy"
    write_recording(nwb_like, 0)
    sheet = write_sheet(
        tmp_path / "s.tsv",
        ["name", "path", "kind", "template", "models", "binning.segment_length_s", "split.fractions.train"],
        [
            ["a", "a.npy", "array", "", "", "2.0", ""],
            ["b", str(nwb_like), "", "long", "lds,lds2", "", "0.5"],
        ],
    )
    config = sheet_config(sheet, datasets={"kept": {"source": {"kind": "edf", "path": "k.edf"}, "models": ["lds"]}})
    config["session_templates"]["long"] = {"binning": {"segment": "continuous"}, "models": ["lds2"]}
    expand_sessions(config)
    assert list(config["datasets"]) == ["kept", "a", "b"]
    a, b = config["datasets"]["a"], config["datasets"]["b"]
    assert a["source"] == {"kind": "array", "sfreq": 100.0, "path": "a.npy"}
    assert a["binning"]["segment_length_s"] == 2.0 and a["binning"]["segment"] == "windows"
    assert a["models"] == ["lds"] and a["heldout"] == {"fraction": 0.25}
    # kind detected from the file's signature; the template's keys only; a nested dotted key
    assert b["source"] == {"kind": "array", "path": str(nwb_like)}
    assert b["binning"] == {"segment": "continuous"} and b["models"] == ["lds", "lds2"]
    assert b["split"] == {"fractions": {"train": 0.5}}
    # the template itself is untouched (each row works on a copy)
    assert config["session_templates"]["default"] == TEMPLATE


@pytest.mark.parametrize(
    "rows, templates, datasets, line, column, problem",
    [
        ([["a", "a.npy", "", "nope"]], None, None, 2, "template", "no session template 'nope' (known: default)"),
        ([["kept", "a.npy", "", ""]], None, {"kept": {}}, 2, "name", "also a dataset in `datasets`"),
        ([["a", "a.npy", "", ""]], {"default": {"source": {"kind": "array"}}}, None, 2, "models", "no models"),
        ([["a", "missing.npy", "", ""]], {}, None, 2, "path", "cannot tell the kind (no such file)"),
    ],
)
def test_each_expansion_problem_names_sheet_line_and_column(tmp_path, rows, templates, datasets, line, column, problem):
    sheet = write_sheet(tmp_path / "s.tsv", ["name", "path", "models", "template"], rows)
    config = sheet_config(sheet)
    if templates is not None:
        config["session_templates"] = templates
    if datasets is not None:
        config["datasets"] = datasets
    with pytest.raises(SessionSheetError) as caught:
        expand_sessions(config)
    assert (caught.value.line, caught.value.column) == (line, column) and problem in str(caught.value)


@pytest.mark.parametrize(
    "templates, field",
    [
        ({"default": {"sourc": {}}}, "session_templates.default.sourc"),
        ({"default": {"source": {"path": "x.npy"}}}, "session_templates.default.source.path"),
        ({"default": {"models": "lds"}}, "session_templates.default.models"),
        ({"default": []}, "session_templates.default"),
        ([], "session_templates"),
    ],
)
def test_template_problems_name_the_key(tmp_path, templates, field):
    config = sheet_config(write_sheet(tmp_path / "s.tsv", ["name", "path"], [["a", "a.npy"]]))
    config["session_templates"] = templates
    with pytest.raises(ConfigError) as caught:
        expand_sessions(config)
    assert caught.value.field == field


def test_option_errors_of_a_row_point_at_its_line_and_column(tmp_path):
    sheet = write_sheet(
        tmp_path / "s.tsv",
        ["name", "path", "binning.segment_length_s", "binning.window_s", "binning.colour"],
        [["a", "a.npy", "", "", ""], ["b", "b.npy", "-1", "", ""], ["c", "c.npy", "", "", "red"]],
    )
    with pytest.raises(SessionSheetError) as caught:
        prepare_workflow_config(sheet_config(sheet), copy.deepcopy(SCHEMA))
    assert (caught.value.line, caught.value.column) == (3, "binning.segment_length_s") and "> 0" in str(caught.value)
    # an unknown option given as a column
    config = sheet_config(write_sheet(tmp_path / "t.tsv", ["name", "path", "binning.colour"], [["c", "c.npy", "red"]]))
    with pytest.raises(SessionSheetError) as caught:
        prepare_workflow_config(config, copy.deepcopy(SCHEMA))
    assert (caught.value.line, caught.value.column) == (2, "binning.colour") and "unknown option" in str(caught.value)
    # a template's bad option: the row that uses it, and the template's key
    config = sheet_config(write_sheet(tmp_path / "u.tsv", ["name", "path"], [["d", "d.npy"]]))
    config["session_templates"]["default"]["binning"]["zscore"] = "often"
    with pytest.raises(SessionSheetError) as caught:
        prepare_workflow_config(config, copy.deepcopy(SCHEMA))
    assert caught.value.line == 2 and "session_templates.default.binning.zscore" in str(caught.value)
    # an error about another key passes through unchanged
    plain = ConfigError("models.lds.latent_dim", "expected an integer")
    assert locate_in_sheet(plain, config) is plain


# ----------------------------------------------------------------------------- the configuration's one-line errors


def _config_error(config: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        prepare_workflow_config(config, copy.deepcopy(SCHEMA))
    return str(caught.value)


def _datasets(**datasets) -> dict:
    return {"models": LDS, "datasets": datasets}


def test_configuration_errors_are_one_line_naming_the_key(tmp_path):
    nwb = {"source": {"kind": "nwb", "path": "x.nwb"}, "models": ["lds"]}
    array = {"source": {"kind": "array", "path": "x.npy", "sfreq": 100.0}, "models": ["lds"]}
    cases = [
        ({**_datasets(a=array), "bogus": 1}, "config 'bogus': unknown key (known: analysis, datasets"),
        (_datasets(a={**array, "colour": 1}), "config 'datasets.a.colour': unknown key"),
        (_datasets(a={**array, "models": "lds"}), "config 'datasets.a.models': expected a list of model names"),
        ({"models": {"lds": 3}, "datasets": {"a": array}}, "config 'models.lds': expected a mapping, got 3"),
        (_datasets(a={**nwb, "binning": {"bin_size_s": 1e-6}}), "datasets.a.binning.bin_size_s': spike data"),
        (_datasets(a=nwb | {"binning": {"bin_size_s": None}}), "needs a bin size of 1–100 ms, got None"),
        (
            _datasets(a={**array, "source": {**array["source"], "sfreq": float("nan")}}),
            "config 'datasets.a.source.sfreq': expected a number, got NaN",
        ),
        (_datasets(a={"models": ["lds"]}), "config 'datasets.a.source': is required"),
    ]
    for config, expected in cases:
        message = _config_error(config)
        assert expected in message and "\n" not in message and len(message) < 400, message


def test_valid_configuration_gets_top_level_defaults_and_sweeps(tmp_path):
    config = {
        "models": {"lds": {"family": "lds", "gpus": 0, "sweep": {"latent_dim": [2, 3]}}},
        "datasets": {"a": {"source": {"kind": "array", "path": "x.npy", "sfreq": 50}, "models": ["lds"]}},
    }
    sweeps = prepare_workflow_config(config, copy.deepcopy(SCHEMA))
    assert sweeps == {"lds": {"options": ["latent_dim"], "members": ["lds-latent_dim2", "lds-latent_dim3"]}}
    assert config["results"] == "results" and config["device"] == "auto" and config["sessions"] is None
    assert config["datasets"]["a"]["models"] == ["lds-latent_dim2", "lds-latent_dim3"]
    # the schema alone: a valid entry passes, a failure is one line with its key path
    assert schema_problem({"datasets": {"a": config["datasets"]["a"]}}, SCHEMA) is None
    empty = schema_problem({"datasets": {"a": {**config["datasets"]["a"], "models": []}}}, SCHEMA)
    assert empty.field == "datasets.a.models" and "\n" not in str(empty)


# ----------------------------------------------------------------------------- failures and the index


def test_error_line_of_a_stage_log():
    neurodyn = "2024-01-01 10:00:00,000 INFO neurodyn: read x\n2024-01-01 10:00:01,000 ERROR neurodyn: x.npy: bad\n"
    assert error_line(neurodyn) == "neurodyn: error: x.npy: bad"
    traceback = "INFO start\nTraceback (most recent call last):\n  File 'x'\nValueError: shapes differ\n"
    assert error_line(traceback) == "ValueError: shapes differ"
    assert error_line("2024-01-01 10:00:00,000 INFO neurodyn: fine\n") is None


def test_failed_jobs_from_the_snakemake_log(tmp_path):
    log = tmp_path / "run.snakemake.log"
    log.write_text(
        "[Mon Jan  1 10:00:00 2024]\n"
        "Error in rule ingest:\n"
        "    message: None\n"
        "    jobid: 7\n"
        "    input: s07.npy\n"
        "    output: results/s07/recording.zarr.manifest.json\n"
        "    log: results/s07/logs/ingest.log (check log file(s) for error details)\n"
        "    wildcards: dataset=s07\n"
        "\n"
        "Error in rule fit:\n"
        "    log: results/s09/logs/fit_lds.log (check log file(s) for error details)\n"
        "    wildcards: dataset=s09, model=lds\n"
        "Removing output files of failed job fit since they might be corrupted:\n"
        "Error in rule bin:\n"  # no wildcards line: the dataset from its paths under the results
        "    output: out/s11/dataset.zarr.manifest.json\n"
        "    log: out/s11/logs/bin.log (check log file(s) for error details)\n"
        "Execute 1 jobs...\n"
    )
    assert failed_jobs([log], "out") == {
        "s07": [("ingest", "results/s07/logs/ingest.log")],
        "s09": [("fit", "results/s09/logs/fit_lds.log")],
        "s11": [("bin", "out/s11/logs/bin.log")],
    }
    assert failed_jobs([tmp_path / "absent.log"]) == {} and failed_jobs(None) == {}


def test_job_failure_prefers_the_reported_job_then_the_newest_log(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "ingest.log").write_text("2024-01-01 10:00:00,000 INFO neurodyn: read\n")
    old = logs / "bin.log"
    old.write_text("2024-01-01 10:00:00,000 ERROR neurodyn: old problem\n")
    new = logs / "fit_lds.log"
    new.write_text("2024-01-01 10:00:00,000 ERROR neurodyn: new problem\n")
    os.utime(old, (time.time() - 100, time.time() - 100))
    assert job_failure(logs) == {"error": "neurodyn: error: new problem", "log": str(new)}
    assert job_failure(logs, [("bin", str(old))])["error"] == "neurodyn: error: old problem"
    quiet = [("ingest", str(logs / "ingest.log"))]
    (logs / "bin.log").unlink()
    (logs / "fit_lds.log").unlink()
    assert job_failure(logs, quiet) == {"error": "rule ingest failed (its log holds no error line)", "log": quiet[0][1]}
    assert job_failure(logs) is None and job_failure(tmp_path / "none") is None


def test_index_lists_failed_and_unrun_datasets_with_their_errors(tmp_path):
    html = build_index(
        [
            {"dataset": "good", "report": "good/report.html", "summary": {"n_trials": 3}, "models": {"lds": {}}},
            {"dataset": "bad", "error": "neurodyn: error: bad.npy: <not> an array", "log": "bad/logs/ingest.log"},
            {"dataset": "later", "error": None, "log": None},
        ]
    )
    assert "3 datasets, 1 with results and 2 without" in html
    assert '<a href="good/report.html">good</a>' in html
    assert "failed: neurodyn: error: bad.npy: &lt;not&gt; an array" in html
    assert '<a href="bad/logs/ingest.log">log</a>' in html and ">later</a>: not run" in html
    # one table row per dataset without results, linked from the list above the table
    assert html.count('id="dataset-bad"') == 1 and '<a href="#dataset-bad">bad</a>' in html


def test_rebuild_index_from_partial_results(tmp_path):
    results = tmp_path / "results"
    (results / "ok" / "logs").mkdir(parents=True)
    (results / "ok" / "metrics.json").write_text(
        '{"dataset": "ok", "summary": {"kind": "continuous", "n_trials": 4, "n_channels": 3},'
        ' "models": {"lds": {"family": "lds", "r2_heldout": 0.5}}}'
    )
    (results / "bad" / "logs").mkdir(parents=True)
    (results / "bad" / "logs" / "ingest.log").write_text("2024-01-01 10:00:00,000 ERROR neurodyn: bad.npy: broken\n")
    out = rebuild_index(results, ["ok", "bad", "never"], results / "index.html")
    html = out.read_text()
    assert '<a href="ok/report.html">ok</a>' in html and "0.5" in html
    assert "failed: neurodyn: error: bad.npy: broken" in html and '<a href="bad/logs/ingest.log">log</a>' in html
    assert ">never</a>: not run" in html
    # dated before the results it lists: the next complete run rewrites it through the index rule
    assert out.stat().st_mtime < (results / "ok" / "metrics.json").stat().st_mtime
    # the index rule's call: every dataset has metrics
    assert "without" not in index_stage({"ok": results / "ok" / "metrics.json"}, tmp_path / "i.html").read_text()


# ----------------------------------------------------------------------------- real Snakemake runs


def snakemake(workdir: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    command = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    command += ["--configfile", str(workdir / "config.yaml"), *args]
    return subprocess.run(command, capture_output=True, text=True)


def test_bad_sheet_stops_the_run_with_one_line(tmp_path):
    write_sheet(tmp_path / "sessions.tsv", ["name", "path", "kind"], [["a", "a.npy", "array"], ["a", "b.npy", "array"]])
    run = snakemake(tmp_path, sheet_config(Path("sessions.tsv")), "--dry-run")
    assert run.returncode == 1
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    assert lines == [
        "neurodyn: error: invalid configuration: sessions.tsv, line 3, column 'name': 'a' is also the name on line 2"
    ]
    assert not (tmp_path / "results").exists()


def test_unknown_top_level_key_is_one_line(tmp_path):
    config = {**sheet_config(Path("sessions.tsv")), "sesions": "x.tsv"}
    run = snakemake(tmp_path, config, "--dry-run")
    output = (run.stdout + run.stderr).strip()
    assert run.returncode == 1 and output.startswith("neurodyn: error: invalid configuration: config 'sesions'")
    assert len(output.splitlines()) == 1


def run_sessions(workdir: Path, n_sessions: int, broken: str) -> subprocess.CompletedProcess:
    """``n_sessions`` array recordings from one sheet, ``broken`` a corrupt file, run with --keep-going."""
    (workdir / "data").mkdir()
    rows = []
    for i in range(1, n_sessions + 1):
        name = f"s{i:02d}"
        path = workdir / "data" / f"{name}.npy"
        if name == broken:
            path.write_bytes(b"\x93NUMPY\x01\x00garbage, not an array header")
        else:
            write_recording(path, seed=i, n_samples=1200 + 100 * (i % 3))
        # every third session overrides the template's window length
        rows.append([name, f"data/{name}.npy", "array", "2.0" if i % 3 == 0 else ""])
    write_sheet(workdir / "sessions.tsv", ["name", "path", "kind", "binning.segment_length_s"], rows)
    return snakemake(workdir, sheet_config(Path("sessions.tsv")), "--keep-going")


def check_sessions_run(workdir: Path, run: subprocess.CompletedProcess, n_sessions: int, broken: str) -> None:
    """The run failed, every other session has its report, and the index lists all of them: the
    broken one with the error line its ingest job logged."""
    assert run.returncode != 0, run.stderr[-3000:]
    results = workdir / "results"
    good = [f"s{i:02d}" for i in range(1, n_sessions + 1) if f"s{i:02d}" != broken]
    for name in good:
        assert (results / name / "report.html").is_file(), (name, run.stderr[-3000:])
    assert not (results / broken / "report.html").exists()
    # the override column reached its session: 2 s windows hold 200 bins, the template's 1 s 100
    assert json.loads((results / "s03" / "metrics.json").read_text())["summary"]["n_time_bins"] == 200
    assert json.loads((results / "s01" / "metrics.json").read_text())["summary"]["n_time_bins"] == 100
    html = (results / "index.html").read_text()
    for name in good:
        assert f'<a href="{name}/report.html">{name}</a>' in html
        assert json.loads((results / name / "metrics.json").read_text())["models"]["lds"]["family"] == "lds"
    assert f"{n_sessions} datasets, {n_sessions - 1} with results and 1 without" in html
    logged = re.search(r" ERROR neurodyn: (.*)$", (results / broken / "logs" / "ingest.log").read_text(), re.M)
    assert logged, "the ingest job logged no error"
    shown = re.search(
        rf'<td id="dataset-{broken}">.*?failed: (.*?) \(<a href="{broken}/logs/ingest.log">log</a>\)', html
    )
    assert shown, html[-3000:]
    assert shown.group(1) == str(escape(f"neurodyn: error: {logged.group(1)}"))
    assert f"{broken}.npy" in shown.group(1)
    # one row per session in the headline table, the failed one included
    headline = html.split('<table class="index headline">')[1].split("</table>")[0]
    assert headline.count("<tr>") == n_sessions + 1
    assert "index.html lists the datasets without results" in run.stderr


@pytest.mark.slow  # about 3 minutes on 2 cores: .ci/run runs it after the default suite
def test_twenty_sessions_with_one_broken_then_fixed(tmp_path):
    """Twenty sessions on two cores (about 100 jobs), one broken: the others finish, the index
    lists all twenty; once the broken recording is fixed, the next run rebuilds the index through
    its rule."""
    start = time.monotonic()
    run = run_sessions(tmp_path, 20, broken="s07")
    check_sessions_run(tmp_path, run, 20, broken="s07")
    print(f"20 sessions in {time.monotonic() - start:.0f} s")
    write_recording(tmp_path / "data" / "s07.npy", seed=7)
    rerun = snakemake(tmp_path, sheet_config(Path("sessions.tsv")), "--keep-going")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    html = (tmp_path / "results" / "index.html").read_text()
    assert "without" not in html and '<a href="s07/report.html">s07</a>' in html
