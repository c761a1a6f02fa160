"""The contract every registered model family keeps (parametrised over ``neurodyn.models.FAMILIES``).

A new family passes this by implementing :class:`neurodyn.models.base.FittedModel` (``family``,
``Options``, ``data_kinds``, ``quick_options`` and the abstract methods) and nothing else:
tiny fit → save/load round trip → posterior shapes → seeded sample determinism → dynamics step
shape → fixed points of the model's own map → export-weights of its exact form, if it has one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from test_smc_lowrank import small_dataset

from neurodyn.analysis.fixed_points import FixedPoint, find_fixed_points
from neurodyn.cli import main
from neurodyn.device import seed_everything
from neurodyn.errors import ConfigError
from neurodyn.models import FAMILIES, load_model
from neurodyn.models.base import Dynamics, FittedModel
from neurodyn.options import Options

# torch's forward-mode AD (the LFADS-JSLDS step) loads its decompositions with torch.jit.script once
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

CASES = [(name, kind) for name, cls in sorted(FAMILIES.items()) for kind in cls.data_kinds]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """One tiny fit per (family, data kind), saved once for the tests below."""
    cache: dict[tuple[str, str], tuple[FittedModel, xr.Dataset, object]] = {}

    def get(name: str, kind: str):
        if (name, kind) not in cache:
            family = FAMILIES[name]
            dataset = small_dataset(kind, seed=3)
            seed_everything(0)
            model = family.fit(dataset, {"family": name, **family.quick_options}, torch.device("cpu"))
            directory = tmp_path_factory.mktemp(f"{name}_{kind}") / "model"
            model.save(directory)
            cache[name, kind] = (model, dataset, directory)
        return cache[name, kind]

    return get


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_declares_typed_options(name):
    family = FAMILIES[name]
    assert family.family == name
    assert issubclass(family.Options, Options) and family.Options.describe()
    assert all(o.help for o in family.Options.describe()), "every option has a one-line help"
    assert set(family.data_kinds) <= {"counts", "continuous"} and family.data_kinds
    family.resolve_config(family.quick_options)  # the quick options are valid options
    with pytest.raises(ConfigError) as err:
        family.resolve_config({"no_such_option": 1}, f"models.{name}")
    assert err.value.field == f"models.{name}.no_such_option"


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_save_load_and_posterior(name, kind, fitted):
    model, dataset, directory = fitted(name, kind)
    again = load_model(directory)
    assert type(again) is type(model) and again.family == name
    post = model.posterior(dataset)
    n_trials, n_time, n_channels = dataset["data"].shape
    assert post["latents"].dims == ("trial", "time", "latent")
    assert post["latents"].shape[:2] == (n_trials, n_time)
    assert post["prediction"].shape == (n_trials, n_time, n_channels)
    assert np.isfinite(post["prediction"].values).all()
    # the saved model predicts what the fitted one does (sampling-based posteriors: same seed)
    seed_everything(1)
    first = model.posterior(dataset)
    seed_everything(1)
    second = again.posterior(dataset)
    np.testing.assert_allclose(second["prediction"].values, first["prediction"].values, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_seeded_samples_are_reproducible(name, kind, fitted):
    model, dataset, _ = fitted(name, kind)
    n_channels = dataset.sizes["channel"]
    a = model.sample(3, 15, seed=7)
    b = model.sample(3, 15, seed=7)
    c = model.sample(3, 15, seed=8)
    assert a["data"].shape == (3, 15, n_channels) and a["latents"].shape[:2] == (3, 15)
    xr.testing.assert_equal(a, b)
    assert not np.array_equal(a["data"].values, c["data"].values)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_dynamics_and_fixed_points(name, kind, fitted):
    model, dataset, _ = fitted(name, kind)
    dyn = model.dynamics()
    assert isinstance(dyn, Dynamics) and dyn.dt == pytest.approx(float(dataset.attrs["bin_size_s"]))
    z = torch.randn(5, dyn.latent_dim, dtype=torch.float64)
    u = torch.zeros(5, dyn.input_dim, dtype=torch.float64) if dyn.input_dim else None
    assert dyn.step(z, u).shape == (5, dyn.latent_dim)
    states = torch.as_tensor(model.posterior(dataset)["latents"].values.reshape(-1, dyn.latent_dim))
    points = find_fixed_points(dyn, np.zeros(dyn.input_dim) if dyn.input_dim else None, states=states[:256])
    for point in points:  # every reported point is a fixed point of the model's own map
        assert isinstance(point, FixedPoint)
        zt = torch.as_tensor(point.z, dtype=torch.float64)[None]
        ut = torch.zeros(1, dyn.input_dim, dtype=torch.float64) if dyn.input_dim else None
        np.testing.assert_allclose(dyn.step(zt, ut)[0].detach().numpy(), point.z, atol=1e-6)
        assert point.stable == bool(np.abs(point.eigenvalues).max() < 1)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_export_weights_round_trip(name, kind, fitted, tmp_path, capsys):
    model, _, directory = fitted(name, kind)
    dyn = model.dynamics()
    out = tmp_path / "weights.npz"
    code = main(["export-weights", str(directory), str(out)])
    if dyn.structure is None:  # no exact form: refused with one line, nothing written
        assert code == 1 and not out.exists() and not list(tmp_path.iterdir())
        assert "no exact form" in capsys.readouterr().err
        return
    assert code == 0 and out.is_file()
    assert json.loads(capsys.readouterr().out)["structure"] == dyn.structure.kind
    assert main(["fixed-points", str(out), "--out", str(tmp_path / "fp.json")]) == 0
    report = json.loads((tmp_path / "fp.json").read_text())
    direct = find_fixed_points(dyn)
    assert len(report["fixed_points"]) == len(direct)
    got = sorted(tuple(np.round(p["z"], 6)) for p in report["fixed_points"])
    want = sorted(tuple(np.round(p.z, 6)) for p in direct)
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_diagnostics_are_declared_metrics(name, kind, fitted):
    from neurodyn.analysis.metrics.registry import ANALYSIS_METRICS, metric_registry
    from neurodyn.report import ModelResult
    from neurodyn.report.results import MetricColumn, comparison_columns

    model, dataset, _ = fitted(name, kind)
    family = FAMILIES[name]
    declared = {spec.key for spec in family.diagnostic_metrics}
    assert not declared & {spec.key for spec in ANALYSIS_METRICS}, "a family's metric shadows an analysis metric"
    out = model.diagnostics(model.posterior(dataset), np.zeros((0, model.dynamics().latent_dim)))
    assert set(out) <= declared
    assert all(v is None or np.isfinite(v) for v in out.values())
    # the report renders them from the registry, with their definitions
    registry = metric_registry(FAMILIES.values())
    columns = comparison_columns([ModelResult(name, name, metrics=out)], kind)
    for key in out:
        assert MetricColumn.of(registry[key]) in columns and registry[key].definition
