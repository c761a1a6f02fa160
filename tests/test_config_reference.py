"""The workflow schema and the options reference are generated from the option dataclasses: the
committed files must be what the code generates, and the schema must agree with the package."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from neurodyn.cli import main
from neurodyn.errors import ConfigError
from neurodyn.models import FAMILIES
from neurodyn.stages.config import check_workflow_config, expand_sweeps
from neurodyn.stages.schema import reference_text, schema_text, workflow_schema

ROOT = Path(__file__).resolve().parents[1]


def test_committed_schema_is_current():
    committed = (ROOT / "workflow/schemas/config.schema.yaml").read_text()
    assert committed == schema_text(), "stale schema: run `neurodyn options --write-schema`"


def test_committed_reference_is_current():
    committed = (ROOT / "config/README.md").read_text()
    assert committed == reference_text(), "stale options reference: run `neurodyn options --write-reference`"


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_pass_schema_and_package(path):
    config = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(workflow_schema()).validate(config)
    config = copy.deepcopy(config)
    expand_sweeps(config)
    check_workflow_config(config)


def _demo_config() -> dict:
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda c: c["models"]["lds"].update(latent_dim="four"), "models.lds.latent_dim"),
        (lambda c: c["models"]["lds"].update(latent_dim=None), "models.lds.latent_dim"),
        (lambda c: c["models"]["lds"].update(smoothing_s="x"), "models.lds.smoothing_s"),
        (lambda c: c["models"]["lds"].update(seed="abc"), "models.lds.seed"),
        (lambda c: c["models"]["lds"].update(gpus=-1), "models.lds.gpus"),
        (lambda c: c["models"]["lds"].update(rank=2), "models.lds.rank"),
        (lambda c: c["models"]["smc"].update(family="nope"), "models.smc.family"),
        (
            lambda c: c["datasets"]["demo_spikes"]["binning"].update(bin_size_s="x"),
            "datasets.demo_spikes.binning.bin_size_s",
        ),
        (lambda c: c["datasets"]["demo_spikes"]["source"].update(sfreq=10), "datasets.demo_spikes.source.sfreq"),
        (
            lambda c: c["analysis"].update(dstsp_bins=1) if "analysis" in c else c.update(analysis={"dstsp_bins": 1}),
            "analysis.dstsp_bins",
        ),
    ],
)
def test_package_check_names_the_key(edit, field):
    config = _demo_config()
    edit(config)
    expand_sweeps(config)
    with pytest.raises(ConfigError) as err:
        check_workflow_config(config)
    assert err.value.field == field


def test_yaml_float_spelling_is_accepted():
    config = _demo_config()
    config["models"]["smc"]["lr"] = "1e-3"  # what PyYAML makes of `lr: 1e-3`
    jsonschema.Draft202012Validator(workflow_schema()).validate(config)
    check_workflow_config(config)


def test_every_family_has_options_in_the_schema():
    model = workflow_schema()["$defs"]["model"]
    families = {branch["if"]["properties"]["family"]["const"] for branch in model["allOf"]}
    assert families == set(FAMILIES)


def test_options_command_lists_groups(capsys):
    assert main(["options"]) == 0
    listing = capsys.readouterr().out
    for group in ("binning", "analysis", "source nwb", *FAMILIES):
        assert f"  {group} " in listing
    assert main(["options", "source", "array"]) == 0
    out = capsys.readouterr().out
    assert "sfreq: number or null = null" in out
    assert main(["options", "nonsense"]) == 1
    assert "no option group 'nonsense'" in capsys.readouterr().err
