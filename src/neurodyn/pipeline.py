"""The workflow's stages as functions from files to files.

Snakemake's scripts and the ``neurodyn`` command line both call these, so a stage behaves the
same with or without Snakemake. Each stage reads its inputs, calls the package's pure
functions, and writes its outputs atomically.

    synthesize → ingest (recording.zarr) → bin (dataset.zarr) → fit (model dir)
               → analyze (metrics.json, fixed_points.json, arrays.zarr) → report (HTML)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import xarray as xr

from neurodyn.errors import ConfigError, InputFileError, NeurodynError
from neurodyn.recording import strings_as_objects, write_atomically

log = logging.getLogger("neurodyn")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def stage_logging(log_path: str | os.PathLike[str] | None = None, threads: int | None = None) -> Iterator[None]:
    """Log to ``log_path`` (and stderr) while a stage runs; a :class:`NeurodynError` ends the
    process with its one-line message and exit status 1 instead of a traceback."""
    root = logging.getLogger()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    try:
        yield
    except NeurodynError as exc:
        log.error("%s", exc)
        raise SystemExit(1)
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()


def _page_with_figures(build, figures_dir: str | os.PathLike[str] | None) -> str:
    """``build(figures_dir)`` → HTML; with a figures folder, the figures are written to a temporary
    folder renamed into place, like every other output."""
    if figures_dir is None:
        return build(None)
    pages: list[str] = []
    write_atomically(lambda tmp: pages.append(build(tmp)), figures_dir)
    return pages[0]


def _write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    return write_atomically(lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True)), path)


# --- stages ------------------------------------------------------------------------------------


def synthesize_stage(generator_cfg: dict[str, Any], out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a synthetic recording (NWB + EDF) and its teacher's ground truth into ``out_dir``."""
    from neurodyn.io.synthetic import TeacherConfig, synthesize

    config = TeacherConfig.from_dict(dict(generator_cfg))
    log.info(
        "synthesizing a %s teacher: %d units, %d trials (seed %d)",
        config.dynamics,
        config.n_units,
        config.n_trials,
        config.seed,
    )
    return synthesize(config, out_dir)


def ingest_stage(source_path: str | os.PathLike[str], source_cfg: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Read and check a source file; store its event-level recording (``recording.zarr``)."""
    from neurodyn.ingest import read_source
    from neurodyn.recording import save_recording

    options = {k: v for k, v in source_cfg.items() if k not in ("kind", "path", "generator", "file")}
    kind = source_cfg.get("kind")
    file_kind = source_cfg.get("file", "nwb") if kind == "synthetic" else kind
    recording = read_source(source_path, kind=file_kind, **options)
    log.info("read %s (%s)", source_path, recording.kind)
    return save_recording(recording, out)


def bin_stage(recording_path: str | os.PathLike[str], dataset_cfg: dict[str, Any], out: str | os.PathLike[str]) -> Path:
    """Bin a stored recording into the dataset store, per the dataset's config."""
    from neurodyn.dataset import config_hash, open_dataset, summary
    from neurodyn.ingest import BinningOptions, bin_to_store
    from neurodyn.recording import load_recording

    opts = BinningOptions.from_config(dataset_cfg.get("binning"), dataset_cfg.get("split"), dataset_cfg.get("heldout"))
    recording = load_recording(recording_path)
    relevant = {k: dataset_cfg.get(k) for k in ("source", "binning", "split", "heldout")}
    path = bin_to_store(recording, opts, out, config_hash=config_hash(relevant))
    info = summary(open_dataset(path, load=False))
    log.info(
        "binned: %d trials × %d bins × %d channels (%s)",
        info["n_trials"],
        info["n_time_bins"],
        info["n_channels"],
        ", ".join(f"{k} {v}" for k, v in info["splits"].items()),
    )
    return path


def fit_stage(
    dataset_path: str | os.PathLike[str],
    model_cfg: dict[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    device: str = "auto",
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
) -> Path:
    """Fit one model family to a dataset and save it."""
    from neurodyn.dataset import open_dataset
    from neurodyn.device import pick_device, seed_everything
    from neurodyn.models import get_family

    if "family" not in model_cfg:
        raise ConfigError("models.<name>.family", "is required")
    family = get_family(model_cfg["family"])
    dev = pick_device(model_cfg.get("device", device))
    seed_everything(int(model_cfg.get("seed", 0)))
    dataset = open_dataset(dataset_path)
    log.info("fitting %s on %s (device %s)", family.family, dataset_path, dev)
    started = time.perf_counter()
    model = family.fit(dataset, dict(model_cfg), dev, checkpoint_dir=checkpoint_dir, resume=resume)
    model.meta.setdefault("fit", {}).update(seconds=time.perf_counter() - started, device=str(dev))
    model.meta["seed"] = int(model_cfg.get("seed", 0))
    return model.save(out_dir)


def analyze_stage(
    dataset_path: str | os.PathLike[str],
    model_dir: str | os.PathLike[str],
    analysis_cfg: dict[str, Any] | None,
    out_dir: str | os.PathLike[str],
    *,
    names: dict[str, str] | None = None,
    device: str = "auto",
) -> dict[str, Path]:
    """Evaluate a fitted model; write ``metrics.json``, ``fixed_points.json`` and ``arrays.zarr``."""
    from neurodyn.analysis.evaluate import evaluate
    from neurodyn.dataset import open_dataset
    from neurodyn.device import pick_device
    from neurodyn.models import load_model

    dataset = open_dataset(dataset_path)
    model = load_model(model_dir, pick_device(device))
    result, arrays, fixed_points = evaluate(model, dataset, analysis_cfg)
    out_dir = Path(out_dir)
    result.update(names or {})
    result.update(
        family=model.family,
        fit=model.meta.get("fit", {}),
        model_config={**model.meta.get("config", {}), "seed": model.meta.get("seed", 0)},
    )
    log.info("metrics: %s", ", ".join(f"{k}={v:.4g}" for k, v in result["metrics"].items() if isinstance(v, float)))
    arrays_path = write_atomically(
        lambda tmp: arrays.to_zarr(tmp, mode="w", zarr_format=3, consolidated=False), out_dir / "arrays.zarr"
    )
    return {
        "metrics": _write_json(result, out_dir / "metrics.json"),
        "fixed_points": _write_json(fixed_points, out_dir / "fixed_points.json"),
        "arrays": arrays_path,
    }


def load_analysis(directory: str | os.PathLike[str], name: str):
    """A model's analysis outputs as a :class:`neurodyn.report.ModelResult`."""
    from neurodyn.report import ModelResult

    directory = Path(directory)
    try:
        result = json.loads((directory / "metrics.json").read_text())
        fixed = json.loads((directory / "fixed_points.json").read_text())
        arrays = strings_as_objects(xr.open_zarr(directory / "arrays.zarr", consolidated=False).load())
    except (OSError, ValueError) as exc:
        raise InputFileError(directory, f"incomplete analysis outputs ({type(exc).__name__}: {exc})")
    return ModelResult(
        name=name,
        family=result.get("family", "?"),
        metrics=result["metrics"],
        protocol=result.get("protocol", {}),
        fixed_points=fixed,
        arrays=arrays,
        fit=result.get("fit", {}),
        config=result.get("model_config", {}),
        distillation=result.get("distillation", {}),
        jslds=result.get("jslds_analysis", {}),
    )


def report_stage(
    dataset_path: str | os.PathLike[str],
    analyses: dict[str, str | os.PathLike[str]],
    out_html: str | os.PathLike[str],
    *,
    title: str,
    figures_dir: str | os.PathLike[str] | None = None,
    metrics_out: str | os.PathLike[str] | None = None,
    ground_truth: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the dataset's HTML report (and its figures and combined metrics, when asked)."""
    from neurodyn.dataset import open_dataset, summary
    from neurodyn.report import build_report

    dataset = open_dataset(dataset_path)
    models = [load_analysis(path, name) for name, path in analyses.items()]
    truth = json.loads(Path(ground_truth).read_text()) if ground_truth else None
    html = _page_with_figures(
        lambda figs: build_report(dataset, models, title=title, ground_truth=truth, figures_dir=figs), figures_dir
    )
    if metrics_out is not None:
        combined = {
            "dataset": title,
            "summary": summary(dataset),
            "models": {m.name: {"family": m.family, **m.metrics} for m in models},
        }
        if truth is not None:
            combined["ground_truth"] = ground_truth_comparison(truth, combined["models"])
        _write_json(combined, metrics_out)
    return write_atomically(lambda tmp: Path(tmp).write_text(html), out_html)


def ground_truth_comparison(truth: dict[str, Any], models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The teacher's fixed-point counts and rhythm, and whether each model recovers the stable count."""
    points = [p for p in truth.get("fixed_points", []) or [] if isinstance(p, dict)]
    stable = sum(bool(p.get("stable")) for p in points)
    cycle = truth.get("limit_cycle") or {}
    return {
        "n_fixed_points": len(points),
        "n_stable_fixed_points": stable,
        "limit_cycle_hz": cycle.get("frequency_hz") if isinstance(cycle, dict) else None,
        "stable_count_recovered": {
            name: m.get("n_stable_fixed_points") == stable
            for name, m in models.items()
            if m.get("n_stable_fixed_points") is not None
        },
    }


def theory_stage(
    theory_cfg: dict[str, Any],
    out_html: str | os.PathLike[str],
    out_json: str | os.PathLike[str],
    *,
    figures_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Mean-field theory of trained reservoirs vs finite networks for each configured setting:
    ``theory_cfg`` = {sizes: [N, ...], seeds: K, settings: {label: {phi, g, targets, threshold}}}."""
    from neurodyn.report import build_theory_report
    from neurodyn.theory.compare import as_json, compare_setting

    sizes = [int(n) for n in theory_cfg.get("sizes", [250, 500])]
    seeds = int(theory_cfg.get("seeds", 2))
    results = []
    for label, setting in theory_cfg["settings"].items():
        log.info("theory %s: %s", label, setting)
        results.append(
            (
                label,
                compare_setting(
                    setting["phi"],
                    float(setting["g"]),
                    setting["targets"],
                    threshold=setting.get("threshold"),
                    sizes=sizes,
                    seeds=seeds,
                ),
            )
        )
    _write_json({label: as_json(r) for label, r in results}, out_json)
    html = _page_with_figures(lambda figs: build_theory_report(results, figures_dir=figs), figures_dir)
    return write_atomically(lambda tmp: Path(tmp).write_text(html), out_html)


def index_stage(metrics_files: dict[str, str | os.PathLike[str]], out_html: str | os.PathLike[str]) -> Path:
    """Cross-dataset index page linking every dataset report."""
    from neurodyn.report import build_index

    out_html = Path(out_html)
    entries = []
    for dataset, path in metrics_files.items():
        combined = json.loads(Path(path).read_text())
        report = Path(path).with_name("report.html")
        entries.append(
            {
                "dataset": dataset,
                "report": os.path.relpath(report, out_html.parent),
                "kind": combined["summary"]["kind"],
                "summary": combined["summary"],
                "models": combined["models"],
            }
        )
    return write_atomically(lambda tmp: Path(tmp).write_text(build_index(entries)), out_html)


# --- command line ------------------------------------------------------------------------------


def _load_mapping(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InputFileError(path, f"cannot be read as YAML/JSON ({type(exc).__name__})")
    if not isinstance(loaded, dict):
        raise InputFileError(path, "must hold a mapping of options")
    return loaded


def _cmd_synthesize(args) -> int:
    paths = synthesize_stage(_load_mapping(args.config), args.out_dir)
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


def _cmd_fit(args) -> int:
    cfg = {"family": args.family, **_load_mapping(args.config)}
    fit_stage(
        args.dataset, cfg, args.out_dir, device=args.device, checkpoint_dir=args.checkpoint_dir, resume=args.resume
    )
    return 0


def _cmd_analyze(args) -> int:
    paths = analyze_stage(args.dataset, args.model_dir, _load_mapping(args.config), args.out_dir, device=args.device)
    print(Path(paths["metrics"]).read_text())
    return 0


def _cmd_report(args) -> int:
    analyses = {}
    for item in args.analysis:
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigError("--analysis", f"expected NAME=DIR, got {item!r}")
        analyses[name] = path
    report_stage(
        args.dataset,
        analyses,
        args.out,
        title=args.title or Path(args.dataset).stem,
        figures_dir=args.figures_dir,
        ground_truth=args.ground_truth,
    )
    return 0


def add_pipeline_commands(sub) -> None:
    """Register synthesize / fit / analyze / report on the ``neurodyn`` parser."""
    p = sub.add_parser(
        "synthesize",
        help="write the synthetic default recording (NWB + EDF + ground truth)",
        description="Simulate a rank-2 low-rank RNN teacher and write recording.nwb, eeg.edf, "
        "teacher.npz and teacher.json.",
    )
    p.add_argument("out_dir", type=Path)
    p.add_argument("--config", type=Path, help="YAML/JSON file of generator options")
    p.set_defaults(func=_cmd_synthesize)

    p = sub.add_parser(
        "fit",
        help="fit a model to a dataset store",
        description="Fit a model family to the training trials of a dataset store.",
    )
    p.add_argument("dataset", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--family", default="lds", help="model family (default: lds)")
    p.add_argument("--config", type=Path, help="YAML/JSON file of model options")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--checkpoint-dir", type=Path, help="where long fits checkpoint")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.set_defaults(func=_cmd_fit)

    p = sub.add_parser(
        "analyze",
        help="evaluate a fitted model: metrics, fixed points, spectra",
        description="Evaluate a fitted model on its dataset and write metrics.json, fixed_points.json and arrays.zarr.",
    )
    p.add_argument("dataset", type=Path)
    p.add_argument("model_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--config", type=Path, help="YAML/JSON file of analysis options")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "report",
        help="write the HTML report of a dataset",
        description="Write a self-contained HTML report from a dataset and analyses.",
    )
    p.add_argument("dataset", type=Path)
    p.add_argument("out", type=Path, help="output HTML file")
    p.add_argument("--analysis", nargs="+", default=[], metavar="NAME=DIR", help="analysis output folders")
    p.add_argument("--title")
    p.add_argument("--figures-dir", type=Path)
    p.add_argument("--ground-truth", type=Path, help="teacher.json of a synthetic dataset")
    p.set_defaults(func=_cmd_report)
