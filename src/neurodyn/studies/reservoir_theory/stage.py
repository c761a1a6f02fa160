"""The workflow's theory page: mean-field theory against finite trained reservoirs per setting."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurodyn.errors import ConfigError
from neurodyn.options import REQUIRED, Options, option
from neurodyn.stages.report import page_with_figures
from neurodyn.storage import write_atomically, write_json
from neurodyn.studies.reservoir_theory.compare import as_json, compare_setting
from neurodyn.studies.reservoir_theory.page import build_theory_report

log = logging.getLogger("neurodyn")


@dataclass(frozen=True)
class TheorySetting(Options):
    """One reservoir setting: nonlinearity, coupling gain and the targets trained as fixed points."""

    phi: str = option(REQUIRED, "nonlinearity of the units", choices=("tanh", "relu"))
    g: float = option(REQUIRED, "gain of the random coupling, W_ij ~ N(0, g²/N)", gt=0)
    targets: list[float] = option(REQUIRED, "target outputs A held as fixed points", min_length=1)
    threshold: float | None = option(None, "relu: the threshold θ of φ(x) = max(0, x − θ) (null: 0.1)")


@dataclass(frozen=True)
class TheoryOptions(Options):
    """The ``theory`` section: mean-field theory against finite trained networks (Rivkind & Barak 2017)."""

    sizes: list[int] = option([250, 500], "network sizes N of the finite networks", ge=10, min_length=1)
    seeds: int = option(2, "networks per size", ge=1)
    settings: dict[str, Any] = option({}, "named settings, each a mapping of the setting options below")

    def check(self, where: str) -> None:
        if not self.settings:
            raise ConfigError(f"{where}.settings", "needs at least one setting")
        for label, setting in self.settings.items():
            TheorySetting.parse(setting, f"{where}.settings.{label}")


def config_section() -> tuple[dict[str, Any], list[tuple[str, type[Options]]]]:
    """The ``theory`` section of the workflow configuration: its JSON schema and option groups."""
    schema = TheoryOptions.json_schema()
    schema["required"] = ["settings"]
    schema["properties"]["settings"].update(
        minProperties=1,
        propertyNames={"$ref": "#/$defs/name"},
        additionalProperties=TheorySetting.json_schema(),
    )
    return schema, [("", TheoryOptions), ("settings", TheorySetting)]


def theory_stage(
    theory_cfg: dict[str, Any],
    out_html: str | os.PathLike[str],
    out_json: str | os.PathLike[str],
    *,
    figures_dir: str | os.PathLike[str] | None = None,
    pages: Sequence[tuple[str, str]] = (),
) -> Path:
    """Mean-field theory of trained reservoirs vs finite networks for each configured setting:
    ``theory_cfg`` = {sizes: [N, ...], seeds: K, settings: {label: {phi, g, targets, threshold}}}; ``pages``:
    (href relative to the page, label) of other pages to link, e.g. the index."""
    options = TheoryOptions.parse(theory_cfg, "theory")
    sizes, seeds = options.sizes, options.seeds
    results = []
    for label, raw in options.settings.items():
        setting = TheorySetting.parse(raw, f"theory.settings.{label}").as_dict()
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
    write_json({label: as_json(r) for label, r in results}, out_json)
    html = page_with_figures(lambda figs: build_theory_report(results, figures_dir=figs, pages=pages), figures_dir)
    return write_atomically(lambda tmp: Path(tmp).write_text(html), out_html)
