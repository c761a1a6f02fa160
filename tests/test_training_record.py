"""What a fit records about itself: versions, times, threads, its checkpoint/resume history, and the
training curves evaluate() passes on to metrics.json."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import torch
from test_smc_lowrank import small_dataset

from neurodyn.models.base import load_checkpoint, save_checkpoint
from neurodyn.models.smc_lowrank.model import SMCLowRank
from neurodyn.stages.fit import fit_model

# checkpoint after every epoch of the family's quick settings (4 epochs)
CONFIG = {"family": "smc_lowrank", **SMCLowRank.quick_options, "checkpoint_every": 1, "seed": 3}
# the quick settings on this dataset: 18 training trials in batches of 6, then one validation pass
FILTER_CALLS_PER_EPOCH = 4


def interrupted_fit(monkeypatch, ds, checkpoint_dir, *, resume: bool, calls: int) -> None:
    """Run a fit that is killed (KeyboardInterrupt) at its ``calls``-th training filter pass."""
    original = SMCLowRank._bound
    count = {"n": 0}

    def dying(self, *args, **kwargs):
        if kwargs.get("net") is not None:  # a training or validation pass
            count["n"] += 1
            if count["n"] == calls:
                raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SMCLowRank, "_bound", dying)
    try:
        with pytest.raises(KeyboardInterrupt):
            fit_model(ds, CONFIG, device="cpu", checkpoint_dir=checkpoint_dir, resume=resume)
    finally:
        monkeypatch.setattr(SMCLowRank, "_bound", original)


def plain(value):
    """A checkpoint's entries as plain containers again (for writing one back)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_a_fit_resumed_twice_records_both_resumes_versions_times_and_curves(tmp_path, monkeypatch):
    ds = small_dataset("continuous", seed=7)
    full = fit_model(ds, CONFIG, device="cpu")
    record = full.meta["fit"]
    assert record["resumes"] == []
    assert {"neurodyn", "python", "torch", "numpy"} <= set(record["versions"])
    assert record["versions"]["torch"] == torch.__version__ and record["versions"]["numpy"] == np.__version__
    assert "cuda" not in record["versions"] and "gpu" not in record["versions"]  # a CPU fit
    started, finished = (dt.datetime.fromisoformat(record[k]) for k in ("started", "finished"))
    assert started.tzinfo is not None and started <= finished
    assert record["threads"] == torch.get_num_threads() and record["device"] == "cpu"

    ckpt = tmp_path / "ckpt"
    # killed during epoch 2 (epoch 1 checkpointed), then during epoch 3 of the first resume
    interrupted_fit(monkeypatch, ds, ckpt, resume=False, calls=FILTER_CALLS_PER_EPOCH + 2)
    interrupted_fit(monkeypatch, ds, ckpt, resume=True, calls=FILTER_CALLS_PER_EPOCH + 2)
    assert load_checkpoint(ckpt / "checkpoint.pt", "cpu")["epoch"] == 2
    resumed = fit_model(ds, CONFIG, device="cpu", checkpoint_dir=ckpt, resume=True)
    resumes = resumed.meta["fit"]["resumes"]
    assert [(r["epoch"], r["checkpoint"], r["unit"]) for r in resumes] == [
        (1, "checkpoint.pt", "epoch"),
        (2, "checkpoint.pt", "epoch"),
    ]
    assert all(dt.datetime.fromisoformat(r["at"]) >= started for r in resumes)
    assert set(resumed.meta["fit"]["versions"]) == set(record["versions"])
    # the resumed fit continued the same run: the same curves as the fit run in one go
    curves, expected = resumed.training_curves(), full.training_curves()
    assert curves["steps"] == expected["steps"] == [1, 2, 3, 4]
    for label, values in expected["series"].items():
        np.testing.assert_allclose(curves["series"][label], values, rtol=1e-9, err_msg=label)
    json.dumps(resumed.meta)  # model.json stays plain JSON

    # evaluate() carries the fit record and the training curves into metrics.json
    from neurodyn.analysis.evaluate import AnalysisResult, evaluate

    result = evaluate(resumed, ds, {"distill": False})
    assert result.about["fit"]["resumes"] == resumes and result.about["training"] == curves
    assert set(curves["series"]) == {
        "training bound (nats/bin)",
        "validation bound (nats/bin)",
        "learning rate",
    }
    result.save(tmp_path / "analysis")
    saved = json.loads((tmp_path / "analysis" / "metrics.json").read_text())
    assert saved["training"] == json.loads(json.dumps(curves)) and len(saved["fit"]["resumes"]) == 2
    assert AnalysisResult.load(tmp_path / "analysis").about["training"] == saved["training"]


def test_a_checkpoint_from_before_resumes_and_learning_rates_were_kept_still_resumes(tmp_path, monkeypatch):
    ds = small_dataset("continuous", seed=8)
    ckpt = tmp_path / "ckpt"
    interrupted_fit(monkeypatch, ds, ckpt, resume=False, calls=FILTER_CALLS_PER_EPOCH + 2)
    path = ckpt / "checkpoint.pt"
    old = plain(dict(load_checkpoint(path, "cpu")))
    old.pop("resumes")
    old["history"] = old["history"][:, :3]  # epoch, training bound, validation bound: no learning rate
    save_checkpoint(path, old)
    model = fit_model(ds, CONFIG, device="cpu", checkpoint_dir=ckpt, resume=True)
    assert [r["epoch"] for r in model.meta["fit"]["resumes"]] == [1]
    lr = model.training_curves()["series"]["learning rate"]
    assert lr[0] is None and all(v is not None and v > 0 for v in lr[1:])  # unknown for the old epoch
