"""Model sweeps: config expansion, finding the swept option, and the report's sweep section."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
from test_report import _embedded_figures, inputs  # noqa: F401  (module-scoped fixture)

from neurodyn.errors import ConfigError
from neurodyn.report import build_report
from neurodyn.report.sweeps import find_sweeps, sweep_rows
from neurodyn.stages.config import expand_sweeps


def test_expand_sweeps_names_every_combination_and_rewrites_datasets():
    config = {
        "models": {
            "bn": {
                "family": "plrnn_em",
                "restarts": 2,
                "gpus": 0,
                "sweep": {"latent_dim": [8, 12], "tau": [0, 0.5, 1e-05]},
            },
            "smc": {"family": "smc_lowrank"},
        },
        "datasets": {"a": {"models": ["bn", "smc"]}, "b": {"models": ["smc"]}},
    }
    members = expand_sweeps(config)
    names = members["bn"]
    assert names == [
        "bn-latent_dim8-tau0",
        "bn-latent_dim8-tau0p5",
        "bn-latent_dim8-tau1em05",
        "bn-latent_dim12-tau0",
        "bn-latent_dim12-tau0p5",
        "bn-latent_dim12-tau1em05",
    ]
    assert config["models"]["bn-latent_dim12-tau0p5"] == {
        "family": "plrnn_em",
        "restarts": 2,
        "gpus": 0,
        "latent_dim": 12,
        "tau": 0.5,
    }
    assert "bn" not in config["models"] and config["datasets"]["a"]["models"] == [*names, "smc"]
    assert config["datasets"]["b"]["models"] == ["smc"]
    # expanding an expanded config changes nothing
    again = copy.deepcopy(config)
    expand_sweeps(again)
    assert again == config


@pytest.mark.parametrize(
    "sweep, problem",
    [
        ({}, "must map options"),
        ({"gpus": [0, 1]}, "cannot be swept"),
        ({"tau": []}, "non-empty list of distinct"),
        ({"tau": [1, 1]}, "non-empty list of distinct"),
    ],
)
def test_expand_sweeps_rejects_bad_sweeps(sweep, problem):
    config = {"models": {"m": {"family": "lds", "sweep": sweep}}, "datasets": {}}
    with pytest.raises(ConfigError, match=problem):
        expand_sweeps(config)


def test_expand_sweeps_refuses_name_clashes():
    config = {
        "models": {"m": {"family": "lds", "sweep": {"latent_dim": [2]}}, "m-latent_dim2": {"family": "lds"}},
        "datasets": {},
    }
    with pytest.raises(ConfigError, match="names another model"):
        expand_sweeps(config)


def _configs():
    out = {}
    for m in (8, 12):
        for tau in (0.0, 0.1, 1.0):
            for seed in (0, 1):
                out[f"p{m}-{tau}-{seed}"] = (
                    "plrnn_em",
                    {"latent_dim": m, "tau": tau, "seed": seed, "em_iters": [1, 2], "observation": "relu"},
                )
    out["smc_a"] = ("smc_lowrank", {"rank": 2, "proposal": "optimal", "seed": 0})
    out["smc_b"] = ("smc_lowrank", {"rank": 3, "proposal": "bootstrap", "seed": 0})  # not a sweep
    out["lds_a"] = ("lds", {"latent_dim": 2, "seed": 0})
    out["lds_b"] = ("lds", {"latent_dim": 2, "seed": 1})  # replicates only: not a sweep
    return out


def test_find_sweeps_picks_the_option_with_most_values_and_pools_replicates():
    configs = _configs()
    (sweep,) = find_sweeps(configs)
    assert (sweep.family, sweep.x_key, sweep.series_keys) == ("plrnn_em", "tau", ["latent_dim"])
    assert list(sweep.models) == ["latent_dim=8", "latent_dim=12"]  # numeric order
    # as many sizes as τ values: τ, spanning more decades, stays the x axis
    square = {
        f"q{m}-{tau}": ("plrnn_em", {"latent_dim": m, "tau": tau, "seed": 0})
        for m in (8, 10, 12)
        for tau in (0.0, 0.1, 10.0)
    }
    (sq,) = find_sweeps(square)
    assert sq.x_key == "tau" and sq.series_keys == ["latent_dim"]
    assert sweep.models["latent_dim=8"][0.1] == ["p8-0.1-0", "p8-0.1-1"]
    metrics = {
        name: {"d_stsp": cfg["latent_dim"] + 10 * cfg["tau"] + cfg["seed"]}
        for name, (_, cfg) in configs.items()
        if "tau" in cfg
    }
    metrics["p12-1.0-1"] = {"d_stsp": None}  # a diverged run
    pooled = sweep.points(metrics, "d_stsp")
    assert [p.x for p in pooled] == [0.0, 0.1, 1.0]
    assert pooled[0].n == 4 and pooled[0].mean == pytest.approx((8 + 9 + 12 + 13) / 4)
    assert pooled[2].n == 3 and pooled[2].n_missing == 1
    values = [18, 19, 22]
    mean = sum(values) / 3
    sem = math.sqrt(sum((v - mean) ** 2 for v in values) / 2 / 3)
    assert (pooled[2].mean, pooled[2].sem) == (pytest.approx(mean), pytest.approx(sem))
    series = sweep.points(metrics, "d_stsp", "latent_dim=8")
    assert [p.mean for p in series] == [pytest.approx(8.5), pytest.approx(9.5), pytest.approx(18.5)]
    rows = sweep_rows(sweep, metrics, ["d_stsp", "d_h"])
    assert [r[0] for r in rows] == [0.0, 0.1, 1.0] and all(r[2] is None for r in rows)


def test_report_plots_metrics_against_the_swept_option(inputs):  # noqa: F811
    base = inputs["models"][0]
    models = []
    for k, tau in enumerate((0.0, 0.5, 5.0)):
        metrics = {**base.metrics, "d_stsp": 1.0 + k, "pse_low": 0.5 - 0.1 * k, "pse_high": 0.2}
        models.append(
            replace(base, name=f"sweep_{k}", metrics=metrics, config={"latent_dim": 4, "tau": tau, "seed": 0})
        )
    html = build_report(inputs["counts"], models, title="sweep")
    assert '<section id="sweeps">' in html and "<h3>lds: tau</h3>" in html
    assert "sweep_lds_tau" in _embedded_figures(html)
    assert "3.000 ± 0.000 (n=1)" in html and "power-spectrum error, low band" in html
    # without differing options there is no sweep section
    plain = build_report(inputs["counts"], [replace(m, config={"latent_dim": 4}) for m in models], title="plain")
    assert '<section id="sweeps">' not in plain


def test_declared_sweeps_keep_the_workflows_membership():
    """A model of the same family outside the sweep joins an inferred sweep but not the declared one."""
    from neurodyn.report.sweeps import declared_sweeps as sweeps_from_declarations
    from neurodyn.stages.config import declared_sweeps

    config = {
        "models": {
            "m": {"family": "plrnn_em", "latent_dim": 4, "sweep": {"tau": [0.0, 1.0, 2.0]}},
            "other": {"family": "plrnn_em", "latent_dim": 8, "tau": 0.0},
        },
        "datasets": {"a": {"models": ["m", "other"]}},
    }
    unexpanded = copy.deepcopy(config)
    declared = declared_sweeps(unexpanded, expand_sweeps(config))
    assert declared == {"m": {"options": ["tau"], "members": ["m-tau0", "m-tau1", "m-tau2"]}}
    configs = {
        name: ("plrnn_em", {k: v for k, v in entry.items() if k != "family"})
        for name, entry in config["models"].items()
    }
    (inferred,) = find_sweeps(configs)
    assert "other" in {n for by_x in inferred.models.values() for names in by_x.values() for n in names}
    (sweep,) = sweeps_from_declarations(declared, configs)
    assert sweep.x_key == "tau" and sweep.series_keys == []
    assert sweep.models == {"all": {0.0: ["m-tau0"], 1.0: ["m-tau1"], 2.0: ["m-tau2"]}}
    # members missing from the report are skipped; a sweep with none left is no sweep
    assert sweeps_from_declarations(declared, {"other": configs["other"]}) == []
