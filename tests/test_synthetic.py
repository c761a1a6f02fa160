"""Tests of the synthetic low-rank-RNN teacher dataset (neurodyn.synthetic)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from neurodyn import synthetic as syn
from neurodyn.errors import ConfigError
from neurodyn.synthetic import (
    TeacherConfig,
    latent_jacobian,
    latent_velocity,
    make_teacher,
    measure_limit_cycle,
    simulate_session,
    synthesize,
    teacher_fixed_points,
    write_edf,
    write_ground_truth,
    write_nwb,
)
from neurodyn.synthetic import write as synthetic_write

SMALL = dict(n_trials=12, n_units=20, seed=3)


@pytest.fixture(scope="module")
def small():
    """A small limit-cycle session (12 trials, 20 units) and its teacher."""
    cfg = TeacherConfig(**SMALL)
    params = make_teacher(cfg)
    return cfg, params, simulate_session(params, cfg)


@pytest.fixture(scope="module")
def small_files(small, tmp_path_factory):
    cfg, params, session = small
    out = tmp_path_factory.mktemp("small")
    nwb_path = write_nwb(session, params, out / "recording.nwb")
    edf_path = write_edf(session, out / "eeg.edf")
    return nwb_path, edf_path


def _fixed_points(**kw):
    params = make_teacher(TeacherConfig(**kw))
    return params, teacher_fixed_points(params)


# ------------------------------------------------------------------------------- config


def test_config_from_dict_roundtrip_and_defaults():
    cfg = TeacherConfig()
    assert (cfg.dynamics, cfg.nonlinearity, cfg.n_units, cfg.n_trials, cfg.n_conditions) == (
        "limit_cycle",
        "tanh",
        60,
        120,
        8,
    )
    assert cfg.dt_s == 0.001 and cfg.eeg_sfreq == 200.0 and cfg.n_eeg_channels == 8
    again = TeacherConfig.from_dict(cfg.to_dict())
    assert again == cfg
    json.dumps(cfg.to_dict())  # plain
    assert TeacherConfig.from_dict({"n_trials": 5.0, "tau_s": 1 / 40}).n_trials == 5


def test_config_unknown_key_raises():
    with pytest.raises(ConfigError) as exc:
        TeacherConfig.from_dict({"n_units": 10, "n_neurons": 10})
    assert exc.value.field == "synthetic.n_neurons"
    assert "unknown option" in exc.value.problem and "n_units" in exc.value.problem


@pytest.mark.parametrize(
    "given, field, says",
    [
        ({"n_units": "many"}, "synthetic.n_units", "expected an integer, got 'many'"),
        ({"n_units": None}, "synthetic.n_units", "expected an integer, got null"),
        ({"n_trials": 2.5}, "synthetic.n_trials", "expected an integer"),
        ({"seed": True}, "synthetic.seed", "expected an integer"),
        ({"tau_s": "fast"}, "synthetic.tau_s", "expected a number, got 'fast'"),
        ({"tau_s": None}, "synthetic.tau_s", "expected a number, got null"),
        ({"tau_s": "inf"}, "synthetic.tau_s", "must be a finite number"),
        ({"dynamics": 3}, "synthetic.dynamics", "expected text"),
        ({"split_fractions": 0.5}, "synthetic.split_fractions", "expected a list of number"),
        ({"split_fractions": [0.5, 0.5]}, "synthetic.split_fractions", "expected 3 values"),
        ({"split_fractions": [1.2, -0.1, -0.1]}, "synthetic.split_fractions[1]", "must be >= 0"),
        ({"n_neurons": 10}, "synthetic.n_neurons", "unknown option"),
    ],
)
def test_config_types_are_checked_as_options_specify(given, field, says):
    with pytest.raises(ConfigError) as exc:
        TeacherConfig.from_dict(given)
    assert exc.value.field == field
    assert says in exc.value.problem
    assert "\n" not in str(exc.value)


def test_config_takes_what_a_user_means():
    # YAML reads 1e-2 (no dot) as a string: a float option takes it as the number
    cfg = TeacherConfig.from_dict({"latent_noise": "1e-2", "n_trials": 5.0, "split_fractions": [1, 0, 0]})
    assert cfg.latent_noise == 0.01 and isinstance(cfg.latent_noise, float)
    assert cfg.n_trials == 5 and isinstance(cfg.n_trials, int)
    assert cfg.split_fractions == (1.0, 0.0, 0.0)
    assert TeacherConfig.from_dict(None) == TeacherConfig()
    with pytest.raises(ConfigError) as exc:
        TeacherConfig.from_dict([1, 2])
    assert exc.value.field == "synthetic"


def test_config_errors_name_the_given_prefix():
    """A workflow names its generator: every error, per field or between fields, carries it."""
    for bad, field in (({"n_unitz": 5}, "n_unitz"), ({"n_units": 1}, "n_units"), ({"gain": 1.1}, "gain")):
        with pytest.raises(ConfigError) as exc:
            TeacherConfig.from_dict(bad, where="synthetic.tiny")
        assert exc.value.field == f"synthetic.tiny.{field}"


def test_config_options_are_described():
    info = {o.name: o for o in TeacherConfig.describe()}
    assert list(info) == [f.name for f in dataclasses.fields(TeacherConfig)]
    assert all(o.help for o in info.values())
    assert info["dynamics"].constraints == "one of limit_cycle, ring"
    assert info["split_fractions"].default == [0.7, 0.15, 0.15]
    assert TeacherConfig.defaults() == TeacherConfig().to_dict()


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"n_units": 1}, "n_units"),
        ({"n_trials": 0}, "n_trials"),
        ({"dt_s": 0.0}, "dt_s"),
        ({"dt_s": -0.001}, "dt_s"),
        ({"dt_s": 0.02, "tau_s": 0.05}, "dt_s"),  # coarser than the spike-time resolution
        ({"dt_s": 0.005, "tau_s": 0.005}, "dt_s"),  # not smaller than tau_s
        ({"dynamics": "chaos"}, "dynamics"),
        ({"nonlinearity": "relu"}, "nonlinearity"),
        ({"gain": 1.1}, "gain"),  # 1.1 cos(ω) < 1: origin stable, no limit cycle
        ({"rotation_rad": 2.0}, "rotation_rad"),
        ({"dynamics": "ring", "gain": 0.9}, "gain"),
        ({"n_units": "many"}, "n_units"),
        ({"eeg_sfreq": 300.0}, "eeg_sfreq"),  # 1/300 s is not a multiple of 1 ms
        ({"eeg_sfreq": 62.5, "dt_s": 0.0005}, "eeg_sfreq"),  # EDF needs whole Hz
        ({"cursor_sfreq": 300.0}, "cursor_sfreq"),
        ({"eeg_noise_ar": 1.0}, "eeg_noise_ar"),
        ({"heldout_fraction": 1.0}, "heldout_fraction"),
        ({"latent_noise": -0.1}, "latent_noise"),
        ({"stim_onset_s": 0.95}, "stim_duration_s"),
        ({"split_fractions": [0.5, 0.5, 0.5]}, "split_fractions"),
    ],
)
def test_config_bad_values_raise(bad, field):
    with pytest.raises(ConfigError) as exc:
        TeacherConfig.from_dict(bad)
    assert exc.value.field == f"synthetic.{field}"


def test_config_direct_construction_validates():
    with pytest.raises(ConfigError) as exc:
        TeacherConfig(n_units=1)
    assert exc.value.field == "TeacherConfig.n_units"
    with pytest.raises(ConfigError) as exc:
        TeacherConfig(gain=1.1)
    assert exc.value.field == "TeacherConfig.gain"
    # coerced as a parsed mapping would be; numpy scalars are numbers
    cfg = TeacherConfig(seed=np.int64(3), tau_s=1, split_fractions=[0.5, 0.25, 0.25])
    assert cfg.seed == 3 and type(cfg.seed) is int
    assert cfg.tau_s == 1.0 and isinstance(cfg.tau_s, float)
    assert cfg.split_fractions == (0.5, 0.25, 0.25)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 4  # type: ignore[misc]


# ------------------------------------------------------------------------------- session


def test_same_seed_is_bit_identical_and_seeds_differ(small):
    cfg, params, session = small
    again = simulate_session(make_teacher(cfg), cfg)
    for name in ("spike_times", "spike_times_index", "latent", "eeg", "cursor", "condition", "split"):
        np.testing.assert_array_equal(getattr(again, name), getattr(session, name))
    other_cfg = TeacherConfig(**{**SMALL, "seed": 4})
    other = simulate_session(make_teacher(other_cfg), other_cfg)
    assert not np.array_equal(other.latent, session.latent)
    assert other.spike_times.shape != session.spike_times.shape or not np.array_equal(
        other.spike_times, session.spike_times
    )


def test_session_layout(small):
    cfg, params, session = small
    end = session.session_end_s
    assert end == math.ceil(cfg.n_trials * (cfg.trial_duration_s + cfg.iti_s))
    n_steps = int(round(end / cfg.dt_s))
    assert session.latent.shape == (n_steps, 2) and session.stimulus.shape == (n_steps, 2)
    # ragged spikes: sorted per unit, inside the session, index consistent
    assert session.spike_times.dtype == np.float64
    assert session.spike_times_index[-1] == session.spike_times.shape[0]
    assert np.all(np.diff(session.spike_times_index) >= 0)
    trains = session.spike_trains()
    assert len(trains) == cfg.n_units
    for st in trains:
        assert np.all(np.diff(st) >= 0)
        assert st.size == 0 or (st[0] >= 0.0 and st[-1] <= end)
    # trials
    assert session.n_trials == cfg.n_trials
    np.testing.assert_allclose(session.stop_time - session.start_time, cfg.trial_duration_s)
    np.testing.assert_allclose(session.stim_on_time - session.start_time, cfg.stim_onset_s, atol=1e-12)
    np.testing.assert_allclose(session.stim_off_time - session.stim_on_time, cfg.stim_duration_s, atol=1e-12)
    assert session.condition.dtype.kind == "i"
    assert set(session.condition) <= set(range(cfg.n_conditions))
    np.testing.assert_allclose(session.condition_angle, 2 * np.pi * session.condition / cfg.n_conditions)
    assert set(session.split) <= {"train", "val", "test"}
    assert session.heldout.dtype == bool and 0 < session.heldout.sum() < cfg.n_units
    # stimulus is non-zero exactly during the pulses, pointing along the condition angle
    t = np.arange(n_steps) * cfg.dt_s
    on = np.zeros(n_steps, dtype=bool)
    for k in range(cfg.n_trials):
        on |= (t >= session.stim_on_time[k] - 1e-9) & (t < session.stim_off_time[k] - 1e-9)
    assert np.all(np.linalg.norm(session.stimulus, axis=1)[~on] == 0)
    np.testing.assert_allclose(np.linalg.norm(session.stimulus, axis=1)[on], cfg.stim_amplitude)
    k_mid = np.round((session.stim_on_time + 0.05) / cfg.dt_s).astype(int)
    ang = np.arctan2(session.stimulus[k_mid, 1], session.stimulus[k_mid, 0])
    np.testing.assert_allclose(np.cos(ang - session.condition_angle), 1.0, atol=1e-12)
    # cursor and EEG grids
    assert session.cursor.shape == (int(end * cfg.cursor_sfreq), 2)
    np.testing.assert_allclose(np.diff(session.cursor_timestamps), 1 / cfg.cursor_sfreq)
    assert session.eeg.shape == (int(end * cfg.eeg_sfreq), cfg.n_eeg_channels)
    # EEG-like amplitude: tens of µV, given in volts
    assert 5e-6 < np.std(session.eeg) < 2e-4
    # cursor is a fixed affine readout of the latent
    np.testing.assert_allclose(session.cursor, session.latent[::10] @ params.cursor_readout.T + params.cursor_offset_cm)


def test_mean_firing_rates_in_range():
    cfg = TeacherConfig(n_trials=12)
    session = simulate_session(make_teacher(cfg), cfg)
    counts = np.diff(np.concatenate([[0], session.spike_times_index]))
    rates = counts / session.session_end_s
    assert rates.shape == (60,)
    assert np.all(rates >= 1.0) and np.all(rates <= 60.0), rates


@pytest.mark.parametrize("dynamics", ["limit_cycle", "ring"])
def test_trial_average_depends_on_condition(dynamics):
    cfg = TeacherConfig(dynamics=dynamics, n_trials=40, n_conditions=4, seed=1)
    session = simulate_session(make_teacher(cfg), cfg)
    trains = session.spike_trains()

    def psth(t0: np.ndarray, n_bins: int = 8, width: float = 0.025) -> np.ndarray:
        """Spike counts in n_bins bins after t0: (n_trials, n_units * n_bins)."""
        edges = t0[:, None] + width * np.arange(n_bins + 1)  # (n_trials, n_bins + 1)
        per_unit = [np.diff(np.searchsorted(st, edges), axis=1) for st in trains]
        return np.concatenate(per_unit, axis=1).astype(float)

    def between_condition_spread(x: np.ndarray, labels: np.ndarray) -> float:
        means = np.stack([x[labels == c].mean(0) for c in range(cfg.n_conditions)])
        return float(means.var(axis=0).sum())

    # 25 ms bins: the limit cycle (~6 Hz) would average out in one long window
    post = psth(session.stim_on_time)
    pre = psth(session.stim_on_time - 0.2)
    labels = session.condition
    assert len(set(labels)) == cfg.n_conditions
    observed = between_condition_spread(post, labels)
    rng = np.random.default_rng(0)
    null = [between_condition_spread(post, rng.permutation(labels)) for _ in range(200)]
    assert observed > np.quantile(null, 0.99)
    # the difference is caused by the stimulus: larger after onset than before it
    assert observed > 2 * between_condition_spread(pre, labels)


def test_stimulus_resets_latent_direction(small):
    """Right after the pulse the latent points (roughly) along the stimulus direction."""
    cfg, params, session = small
    k = np.round(session.stim_off_time / cfg.dt_s).astype(int)
    z = session.latent[k]
    ang = np.arctan2(z[:, 1], z[:, 0])
    concentration = abs(np.mean(np.exp(1j * (ang - session.condition_angle))))
    assert concentration > 0.9


# ------------------------------------------------------------------------------- ground truth


def test_jacobian_matches_finite_differences():
    for nl in ("tanh", "clipped"):
        params = make_teacher(TeacherConfig(nonlinearity=nl, n_units=30, seed=2))
        z = np.array([0.31, -0.22])
        eps = 1e-6
        fd = np.stack(
            [
                (latent_velocity(params, z + eps * e) - latent_velocity(params, z - eps * e)) / (2 * eps)
                for e in np.eye(2)
            ],
            axis=1,
        )
        np.testing.assert_allclose(latent_jacobian(params, z), fd, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("nonlinearity", ["tanh", "clipped"])
def test_limit_cycle_fixed_points_and_frequency(nonlinearity):
    params, fps = _fixed_points(nonlinearity=nonlinearity)
    assert len(fps) >= 1
    for fp in fps:
        assert np.linalg.norm(latent_velocity(params, np.array(fp["z"]))) < 1e-8
        assert set(fp) >= {"z", "eigenvalues", "time_constants_s", "frequencies_hz", "stable", "kind"}
    origin = [fp for fp in fps if np.linalg.norm(fp["z"]) < 1e-8]
    assert len(origin) == 1
    o = origin[0]
    eig = np.array(o["eigenvalues"])
    assert not o["stable"] and o["kind"] == "unstable spiral"
    assert np.all(eig[:, 0] > 0) and np.all(np.abs(eig[:, 1]) > 0)
    # exact by construction: Jacobian at the origin is (−I + G)/τ
    cfg = TeacherConfig(nonlinearity=nonlinearity)
    g, w, tau = cfg.gain, cfg.rotation_rad, cfg.tau_s
    np.testing.assert_allclose(sorted(eig[:, 0]), [(g * math.cos(w) - 1) / tau] * 2, rtol=1e-6)
    np.testing.assert_allclose(sorted(np.abs(eig[:, 1])), [g * math.sin(w) / tau] * 2, rtol=1e-6)
    lc = measure_limit_cycle(params)
    assert lc["oscillating"]
    assert 4.0 <= lc["frequency_hz"] <= 8.0
    # mean-field prediction f = tan(ω) / (2π τ) (finite N and Euler shift it a little)
    assert lc["frequency_hz"] == pytest.approx(math.tan(w) / (2 * math.pi * tau), rel=0.1)


@pytest.mark.parametrize("nonlinearity", ["tanh", "clipped"])
def test_ring_has_several_stable_fixed_points(nonlinearity):
    params, fps = _fixed_points(dynamics="ring", nonlinearity=nonlinearity, seed=1)
    for fp in fps:
        assert np.linalg.norm(latent_velocity(params, np.array(fp["z"]))) < 1e-8
        re = np.array(fp["eigenvalues"])[:, 0]
        assert fp["stable"] == bool(np.all(re < 0))
    stable = [fp for fp in fps if fp["stable"]]
    assert len(stable) >= 2
    assert any(fp["kind"] == "saddle" for fp in fps)
    # no duplicates
    z = np.array([fp["z"] for fp in fps])
    d = np.linalg.norm(z[:, None] - z[None], axis=-1) + np.eye(len(z))
    assert d.min() > 1e-6
    # stable points attract: a noise-free run from near one stays there
    z0 = np.array(stable[0]["z"]) + 1e-3
    traj = syn.simulate_latent(params, z0, 2000)
    np.testing.assert_allclose(traj[-1], stable[0]["z"], atol=1e-6)
    assert not measure_limit_cycle(params)["oscillating"]


def test_fixed_point_search_is_complete():
    """A much finer start grid finds no additional fixed points."""
    params = make_teacher(TeacherConfig(dynamics="ring", seed=0))
    coarse = teacher_fixed_points(params)
    fine = teacher_fixed_points(params, grid=41)
    assert len(coarse) == len(fine)
    np.testing.assert_allclose([f["z"] for f in coarse], [f["z"] for f in fine], atol=1e-8)


def test_eeg_has_spectral_peak_at_oscillation():
    cfg = TeacherConfig(n_trials=40, n_units=20)
    params = make_teacher(cfg)
    session = simulate_session(params, cfg)
    f, pxx = signal.welch(session.eeg, fs=cfg.eeg_sfreq, nperseg=1024, axis=0)
    band = f > 2.0
    peaks = f[band][np.argmax(pxx[band].mean(axis=1))]
    assert abs(peaks - measure_limit_cycle(params)["frequency_hz"]) < 1.0


# ------------------------------------------------------------------------------- files


def test_nwb_roundtrip(small, small_files):
    from pynwb import NWBHDF5IO

    cfg, params, session = small
    nwb_path, _ = small_files
    with NWBHDF5IO(str(nwb_path), "r") as io:
        nwb = io.read()
        assert "synthetic" in nwb.session_description.lower()
        assert nwb.session_start_time.tzinfo is not None
        units = nwb.units
        assert len(units) == cfg.n_units
        assert len(nwb.electrodes) == cfg.n_units
        assert set(nwb.electrodes["location"][:]) == {"synthetic"}
        end = session.session_end_s
        for i in range(cfg.n_units):
            st = np.asarray(units["spike_times"][i])
            np.testing.assert_array_equal(st, session.unit_spike_times(i))
            assert np.all(np.diff(st) >= 0) and (st.size == 0 or (st[0] >= 0 and st[-1] <= end))
            np.testing.assert_allclose(units["obs_intervals"][i], [[0.0, end]])
        heldout = np.asarray(units["heldout"][:], dtype=bool)
        np.testing.assert_array_equal(heldout, session.heldout)

        trials = nwb.trials
        assert len(trials) == cfg.n_trials
        for col in ("start_time", "stop_time", "stim_on_time", "stim_off_time", "condition", "data_split"):
            assert col in trials.colnames
        cond = np.asarray(trials["condition"][:])
        assert cond.dtype.kind == "i"
        np.testing.assert_array_equal(cond, session.condition)
        np.testing.assert_allclose(trials["stim_on_time"][:], session.stim_on_time)
        splits = [s.decode() if isinstance(s, bytes) else s for s in trials["data_split"][:]]
        assert splits == list(session.split)

        stim = nwb.stimulus["stimulus"]
        assert stim.data.shape == session.stimulus.shape
        assert stim.rate == pytest.approx(1 / cfg.dt_s) and stim.starting_time == 0.0
        np.testing.assert_array_equal(stim.data[:], session.stimulus)

        cursor = nwb.processing["behavior"]["Position"]["cursor"]
        assert cursor.data.shape == session.cursor.shape and cursor.unit == "meters"
        np.testing.assert_allclose(cursor.data[:], session.cursor / 100)  # simulated in cm
        assert cursor.timestamps is None and cursor.starting_time == 0.0
        np.testing.assert_allclose(
            cursor.starting_time + np.arange(len(cursor.data)) / cursor.rate, session.cursor_timestamps
        )


def test_edf_roundtrip(small, small_files):
    import mne

    cfg, params, session = small
    _, edf_path = small_files
    raw = mne.io.read_raw_edf(str(edf_path), preload=True, verbose=False)
    assert raw.ch_names == [f"E{i}" for i in range(1, cfg.n_eeg_channels + 1)]
    assert set(raw.get_channel_types()) == {"eeg"}
    assert raw.info["sfreq"] == cfg.eeg_sfreq
    assert raw.n_times == session.eeg.shape[0]
    ann = raw.annotations
    assert len(ann) == cfg.n_trials
    assert list(ann.description) == [f"stim/c{c}" for c in session.condition]
    np.testing.assert_allclose(ann.onset, session.stim_on_time, atol=1e-3)
    np.testing.assert_allclose(ann.duration, cfg.stim_duration_s, atol=1e-3)
    data = raw.get_data().T  # volts
    step = (session.eeg.max() - session.eeg.min()) / (2**16 - 2)  # one 16-bit level
    assert np.max(np.abs(data - session.eeg)) <= step


def test_ground_truth_files(small, tmp_path):
    cfg, params, session = small
    fps = teacher_fixed_points(params)
    paths = write_ground_truth(params, cfg, fps, tmp_path / "gt", extra={"note": np.float32(1.5)}, session=session)
    with np.load(paths["teacher_npz"], allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["M"], params.M)
        np.testing.assert_array_equal(npz["latent"], session.latent)
        np.testing.assert_allclose(npz["fixed_points_z"], [fp["z"] for fp in fps])
    text = Path(paths["teacher_json"]).read_text()
    doc = json.loads(text)  # strict JSON parse: no NaN / numpy types
    assert doc["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert TeacherConfig.from_dict(doc["config"]) == cfg
    assert doc["parameters"]["tau_s"] == cfg.tau_s
    assert len(doc["fixed_points"]) == len(fps)
    assert 4.0 <= doc["limit_cycle"]["frequency_hz"] <= 8.0
    assert doc["note"] == 1.5
    assert sorted(p.name for p in (tmp_path / "gt").iterdir()) == ["teacher.json", "teacher.npz"]


def test_synthesize_default_size(tmp_path):
    paths = synthesize(TeacherConfig(), tmp_path / "out")
    assert {p.name for p in paths.values()} == {"recording.nwb", "eeg.edf", "teacher.npz", "teacher.json"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    doc = json.loads(paths["teacher_json"].read_text())
    assert doc["files"]["nwb"] == "recording.nwb"
    assert doc["session"]["n_trials"] == 120 and doc["session"]["n_units"] == 60
    assert 4.0 <= doc["limit_cycle"]["frequency_hz"] <= 8.0


def test_synthesize_leaves_no_partial_files_on_failure(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic_write, "write_edf", broken)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        synthesize(TeacherConfig(n_trials=3, n_units=5), out)
    assert not out.exists()  # nor the folder it would have made
