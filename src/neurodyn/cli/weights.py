"""``neurodyn export-weights``: a fitted model's latent map as the archive ``fixed-points`` reads.

The archive is the map's exact form (:mod:`neurodyn.models.structure`): ``structure`` names it
(affine, lowrank_piecewise_linear, plrnn) beside its arrays. The model modules are imported when
the command runs, so that building the ``neurodyn`` parser stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neurodyn.errors import NeurodynError


def _cmd_export_weights(args: argparse.Namespace) -> int:
    import numpy as np

    from neurodyn.models import load_model
    from neurodyn.stages.outputs import check_output_path, writing_to
    from neurodyn.storage import write_atomically

    check_output_path(args.out, "file")
    model = load_model(args.model)
    dynamics = model.dynamics()
    if dynamics.structure is None:
        raise NeurodynError(
            f"{args.model}: a '{model.family}' model's latent map has no exact form to export "
            "(its fixed points are searched numerically by `neurodyn analyze`)"
        )
    arrays = dynamics.structure.archive()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    with writing_to(args.out):
        write_atomically(write, args.out)
    shapes = {name: list(a.shape) for name, a in arrays.items() if a.ndim}
    print(json.dumps({"out": str(args.out), "structure": dynamics.structure.kind, "shapes": shapes}))
    return 0


def add_weights_commands(sub) -> None:
    """Register export-weights on the ``neurodyn`` parser."""
    export = sub.add_parser(
        "export-weights",
        help="write a fitted model's latent map as .npz for fixed-points",
        description="Write the exact form of a fitted model's latent map (affine: A, B, b; low-rank "
        "piecewise-linear: M, N, h, a, nonlinearity; PLRNN: A, W, h, C) with its `structure` to an .npz "
        "file that `neurodyn fixed-points` reads. Models without an exact form are refused; nothing is "
        "written then.",
    )
    export.add_argument("model", type=Path, help="fitted model directory")
    export.add_argument("out", type=Path, help="output .npz")
    export.set_defaults(func=_cmd_export_weights)
