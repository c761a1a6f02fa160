"""Typed options: parsing, coercion of what a user means, one clear error for what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

import jsonschema
import pytest
import yaml

from neurodyn.errors import ConfigError
from neurodyn.options import Options, option


@dataclass(frozen=True)
class Example(Options):
    passthrough = ("family",)

    latent_dim: int = option(4, "latent dimensions", ge=1)
    lr: float = option(1e-3, "learning rate", gt=0)
    window: int | None = option(None, "window length in bins", ge=2)
    mode: str = option("auto", "how", choices=("auto", "fast"))
    flag: bool = option(True, "a switch")
    kernels: list[int] = option([3, 1], "kernel sizes", ge=1, min_length=1)
    span: tuple[float, ...] = option((0.0, 1.0), "start and stop", length=2)
    pcs: int = option(6, "components", ge=2, even=True)

    def check(self, where: str) -> None:
        if self.span[1] <= self.span[0]:
            raise ConfigError(f"{where}.span", "stop must be after start")


def test_defaults_and_yaml_spellings():
    parsed = Example.parse(yaml.safe_load("lr: 1e-3\nlatent_dim: 8.0\nfamily: x\nspan: [-1, 2]"), "models.m")
    assert parsed.lr == pytest.approx(0.001) and isinstance(parsed.lr, float)
    assert parsed.latent_dim == 8 and isinstance(parsed.latent_dim, int)
    assert parsed.span == (-1.0, 2.0)
    assert parsed.as_dict()["span"] == [-1.0, 2.0]
    assert Example.parse(None, "m").as_dict() == Example.defaults()
    # list defaults are copied, never shared between instances
    a, b = Example.parse({}, "m"), Example.parse({}, "m")
    a.kernels.append(7)
    assert b.kernels == [3, 1]


@pytest.mark.parametrize(
    ("given", "field", "says"),
    [
        ({"latent_dim": "four"}, "models.m.latent_dim", "expected an integer, got 'four'"),
        ({"latent_dim": None}, "models.m.latent_dim", "expected an integer, got null"),
        ({"latent_dim": 2.5}, "models.m.latent_dim", "expected an integer"),
        ({"latent_dim": True}, "models.m.latent_dim", "expected an integer"),
        ({"latent_dim": 0}, "models.m.latent_dim", "must be >= 1"),
        ({"lr": "x"}, "models.m.lr", "expected a number, got 'x'"),
        ({"lr": "nan"}, "models.m.lr", "NaN"),
        ({"lr": 0}, "models.m.lr", "must be > 0"),
        ({"window": 1}, "models.m.window", "must be >= 2"),
        ({"mode": "slow"}, "models.m.mode", "must be one of ['auto', 'fast']"),
        ({"flag": "yes"}, "models.m.flag", "expected true or false"),
        ({"kernels": 3}, "models.m.kernels", "expected a list of integer"),
        ({"kernels": [3, 0]}, "models.m.kernels[1]", "must be >= 1"),
        ({"kernels": []}, "models.m.kernels", "at least 1"),
        ({"span": [1.0]}, "models.m.span", "expected 2 values"),
        ({"span": [2, 1]}, "models.m.span", "stop must be after start"),
        ({"pcs": 5}, "models.m.pcs", "even"),
        ({"seed": "abc"}, "models.m.seed", "unknown option"),
    ],
)
def test_wrong_values_name_the_option(given, field, says):
    with pytest.raises(ConfigError) as err:
        Example.parse(given, "models.m")
    assert err.value.field == field
    assert says in err.value.problem
    assert "\n" not in str(err.value)


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="expected a mapping"):
        Example.parse([1, 2], "analysis")


def test_schema_and_description_agree_with_parsing():
    schema = Example.json_schema()
    jsonschema.validate({"latent_dim": 3, "lr": "1e-3", "window": None, "kernels": [1]}, schema)
    for bad in ({"latent_dim": 0}, {"mode": "slow"}, {"other": 1}, {"pcs": 3}, {"kernels": [0]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    info = {o.name: o for o in Example.describe()}
    assert info["window"].type == "integer or null"
    assert info["mode"].constraints == "one of auto, fast"
    assert info["latent_dim"].help == "latent dimensions" and info["latent_dim"].default == 4


def test_numbers_must_be_finite_unless_allowed():
    @dataclass(frozen=True)
    class Limits(Options):
        tol: float = option(1.0, "a tolerance", gt=0)
        accept: float = option(1.0, "an acceptance bound", gt=0, allow_inf=True)
        span: tuple[float, ...] = option((0.0, 1.0), "start and stop", length=2)

    for given, field in (
        ({"tol": "inf"}, "m.tol"),
        ({"tol": float("inf")}, "m.tol"),
        ({"span": [0, float("inf")]}, "m.span[1]"),
    ):
        with pytest.raises(ConfigError, match="must be a finite number") as err:
            Limits.parse(given, "m")
        assert err.value.field == field
    assert Limits.parse({"accept": "inf"}, "m").accept == float("inf")
