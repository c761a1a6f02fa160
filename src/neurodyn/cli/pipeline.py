"""``neurodyn synthesize | fit | analyze | report``: the workflow's stages from the command line.

Each command imports its stage when it runs (the stages load torch and xarray), so that building
the parser and ``neurodyn --help`` stay fast.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from neurodyn.errors import ConfigError, InputFileError

log = logging.getLogger("neurodyn")


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
    from neurodyn.stages import synthesize_stage
    from neurodyn.stages.outputs import check_output_path, writing_to
    from neurodyn.synthetic import TeacherConfig

    generator_cfg = _load_mapping(args.config)
    TeacherConfig.from_dict(dict(generator_cfg))  # bad or oversized options stop before any output
    check_output_path(args.out_dir)
    with writing_to(args.out_dir):
        paths = synthesize_stage(generator_cfg, args.out_dir)
    print(json.dumps({k: str(v) for k, v in paths.items()}, indent=2))
    return 0


def _cmd_fit(args) -> int:
    from neurodyn.progress import terminal_progress
    from neurodyn.stages import fit_stage

    cfg = {"family": args.family, **_load_mapping(args.config)}
    with terminal_progress():  # a bar in a terminal; log lines in a file, a pipe or a cluster job's output
        fit_stage(
            args.dataset, cfg, args.out_dir, device=args.device, checkpoint_dir=args.checkpoint_dir, resume=args.resume
        )
    return 0


def _cmd_analyze(args) -> int:
    from neurodyn.stages import analyze_stage

    paths = analyze_stage(args.dataset, args.model_dir, _load_mapping(args.config), args.out_dir, device=args.device)
    print(Path(paths["metrics"]).read_text())
    return 0


def _cmd_report(args) -> int:
    from neurodyn.stages import report_stage
    from neurodyn.stages.analyze import check_analysis
    from neurodyn.stages.outputs import check_output_path, writing_to
    from neurodyn.storage import read_json

    analyses = {}
    for item in args.analysis:
        name, sep, path = item.partition("=")
        if not sep:
            raise ConfigError("--analysis", f"expected NAME=DIR, got {item!r}")
        analyses[name] = path
    for path in analyses.values():  # every input checked before any work
        check_analysis(path)
    if args.ground_truth is not None:
        read_json(args.ground_truth)
    check_output_path(args.out, "file")
    if args.figures_dir is not None:
        check_output_path(args.figures_dir)
    with writing_to(args.out):
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
        description="Fit a model family to the training trials of a dataset store (in a terminal, a progress bar "
        "shows the epochs, elapsed time and ETA).",
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
