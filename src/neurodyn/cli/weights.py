"""``neurodyn export-weights``: a fitted model's latent map as the archive ``fixed-points`` reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from neurodyn.errors import NeurodynError


def _cmd_export_weights(args: argparse.Namespace) -> int:
    import numpy as np

    from neurodyn.models import load_model
    from neurodyn.storage import write_atomically

    model = load_model(args.model)
    if not hasattr(model, "export_weights"):
        raise NeurodynError(f"{args.model}: a '{model.family}' model has no low-rank weights to export")
    arrays = model.export_weights()

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    write_atomically(write, args.out)
    print(
        json.dumps(
            {
                "out": str(args.out),
                "n_units": int(arrays["M"].shape[0]),
                "rank": int(arrays["M"].shape[1]),
                "nonlinearity": str(arrays["nonlinearity"]),
            }
        )
    )
    return 0


def add_weights_commands(sub) -> None:
    """Register export-weights on the ``neurodyn`` parser."""
    export = sub.add_parser(
        "export-weights",
        help="write a fitted low-rank model's map as .npz for fixed-points",
        description="Write M, N, h, a and nonlinearity of a fitted smc_lowrank model "
        "(the map z -> a z + N^T phi(M z + h)) to an .npz file that "
        "`neurodyn fixed-points` reads.",
    )
    export.add_argument("model", type=Path, help="fitted model directory")
    export.add_argument("out", type=Path, help="output .npz")
    export.set_defaults(func=_cmd_export_weights)
