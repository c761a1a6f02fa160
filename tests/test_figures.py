"""Tests of the report figures (neurodyn.report.figures), rendered with real matplotlib (Agg)."""

from __future__ import annotations

import io
from collections import namedtuple

import matplotlib.text
import numpy as np
import pytest
import torch
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from PIL import Image

import neurodyn.report.figures as fg
from neurodyn.analysis.flow_field import flow_field
from neurodyn.analysis.metrics.spectra import spectral_peak_hz

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
R_TANH = 0.9575040240772687  # the positive root of tanh(1.8 r) = r


def rendered(fig):
    """The figure after rendering it to PNG (layout and text positions final)."""
    png = fg.figure_png(fig)
    assert png[:8] == PNG_MAGIC
    return fig


def by_gid(fig, gid: str) -> list:
    return [a for a in fig.findobj() if a.get_gid() == gid]


def texts(fig) -> list[matplotlib.text.Text]:
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()]


# ----------------------------------------------------------------------------- inputs


def tanh_flow(grid: int = 25):
    """A 2-unit tanh RNN h ↦ tanh(W h), W = diag(1.8, 0.5): a saddle at 0, stable nodes at (±r, 0)."""
    w = torch.tensor([[1.8, 0.0], [0.0, 0.5]], dtype=torch.float64)
    rng = np.random.default_rng(0)
    latents = np.zeros((12, 30, 2))
    for trial in range(12):
        h = rng.normal(size=2)
        for t in range(30):
            latents[trial, t] = h
            h = np.tanh(w.numpy() @ h)
    fixed = [
        {"z": [0.0, 0.0], "stable": False, "kind": "saddle"},
        {"z": [R_TANH, 0.0], "stable": True, "kind": "stable node"},
        {"z": [-R_TANH, 0.0], "stable": True, "kind": "stable node"},
    ]
    return flow_field(lambda h: torch.tanh(h @ w.T), latents, grid=grid), fixed, latents


def spectrum(frequency: np.ndarray, peak_hz: float, n_channels: int = 6) -> np.ndarray:
    """(channel, F) a 1/f spectrum with a bump at peak_hz, scaled per channel; a huge 0 Hz bin."""
    shape = 1.0 / (1.0 + frequency) + 3.0 * np.exp(-((frequency - peak_hz) ** 2) / 2.0)
    psd = np.outer(np.linspace(0.5, 2.0, n_channels), shape)
    psd[:, frequency == 0] = 1e6
    return psd


def training_history(n: int = 60) -> dict:
    epochs = np.arange(1, n + 1)
    return {
        "x": "epoch",
        "steps": epochs.tolist(),
        "series": {
            "objective": (500 * np.exp(-epochs / 15) + 100).tolist(),
            "validation objective": [float(520 * np.exp(-e / 15) + 110) if e % 5 == 0 else None for e in epochs],
            "validation co-bps": [0.1 + 0.002 * e if e % 5 == 0 else np.nan for e in epochs],
            "learning rate": (1e-2 * 0.95 ** (epochs - 1)).tolist(),
        },
        "higher_is_better": {"objective": False, "validation objective": False, "validation co-bps": True},
    }


def small_dataset(kind: str = "counts") -> xr.Dataset:
    rng = np.random.default_rng(4)
    n_trials, n_time, n_channels = 8, 30, 6
    values = rng.poisson(2.0, size=(n_trials, n_time, n_channels)).astype(float)
    if kind != "counts":
        values = rng.normal(size=(n_trials, n_time, n_channels))
    mask = np.ones(values.shape, bool)
    mask[0, :5, 0] = False
    return xr.Dataset(
        {
            "data": (("trial", "time", "channel"), values, {"kind": kind, "units": "µV"}),
            "mask": (("trial", "time", "channel"), mask),
            "condition": (("trial",), np.array(["a", "b"] * 4)),
        },
        coords={
            "trial": np.arange(n_trials),
            "time": np.linspace(-0.1, 0.5, n_time),
            "channel": np.arange(n_channels),
            "heldout": ("channel", np.arange(n_channels) >= 4),
        },
        attrs={"bin_size_s": 0.02, "align_event": "move_onset"},
    )


FIXED_POINTS = [
    {
        "eigenvalues": [[0.95, 0.1], [0.95, -0.1], [0.5, 0.0]],
        "stable": True,
        "time_constants_s": [0.2, 0.2, 0.01],
        "frequencies_hz": [1.6, 1.6, 0.0],
    },
    {
        "eigenvalues": [[1.05, 0.0], [0.7, 0.0]],
        "stable": False,
        "time_constants_s": [0.2, 0.05],
        "frequencies_hz": [0, 0],
    },
]


# ----------------------------------------------------------------------------- scale and legibility


def test_png_is_rendered_at_twice_the_css_scale():
    fig = fg.new_figure(4.0, 3.0)
    fig.subplots().plot([0, 1], [0, 1])
    png = fg.figure_png(fig)
    assert fg.PNG_DPI == 2 * fg.CSS_PX_PER_INCH
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (4 * fg.PNG_DPI, 3 * fg.PNG_DPI)
    assert fg.png_css_size(png) == fg.figure_css_size(fig) == (400, 300)
    low = fg.figure_png(fig, dpi=100)  # the old keyword still works
    assert Image.open(io.BytesIO(low)).size == (400, 300) and fg.png_css_size(low, dpi=100) == (400, 300)
    with pytest.raises(ValueError):
        fg.png_css_size(b"GIF89a" + bytes(30))


def _all_figures():
    flow, fixed, latents = tanh_flow()
    f = np.linspace(0, 50, 101)
    time = np.linspace(-0.2, 0.6, 40)
    rec = np.random.default_rng(5).uniform(1, 20, size=(3, 40, 5))
    Point = namedtuple("Point", "x mean sem")
    ds = small_dataset()
    return {
        "flow_2d": lambda: fg.flow_field_figure(flow, fixed, latents, title="flow"),
        "flow_1d": lambda: fg.flow_field_figure(
            flow_field(lambda z: torch.tanh(2 * z), latents[..., :1]), [], latents[..., :1], title="1-D"
        ),
        "training": lambda: fg.training_curves_figure(training_history()),
        "psth_comparison": lambda: fg.psth_comparison_figure(time, rec, rec * 1.1, ["0", "90", "180"], list("abcde")),
        "eigenvalues": lambda: fg.eigenvalue_figure(FIXED_POINTS),
        "spectra": lambda: fg.spectra_figure(f, spectrum(f, 6.0), spectrum(f, 5.0)),
        "coherence": lambda: fg.coherence_figure(f, np.full((2, 3, f.size), 0.5)),
        "transfer": lambda: fg.transfer_figure(f, np.ones((2, f.size)), [True, False]),
        "latents": lambda: fg.latent_trajectories_figure(latents, None, fixed),
        "generated": lambda: fg.recorded_vs_generated_figure(
            ds["data"].values[0], ds["data"].values[1], ds["time"].values, kind="counts"
        ),
        "raster": lambda: fg.raster_figure(ds),
        "psth": lambda: fg.psth_figure(ds),
        "rates": lambda: fg.rate_histogram_figure(ds),
        "variance": lambda: fg.channel_variance_figure(small_dataset("continuous")),
        "sweep": lambda: fg.sweep_figure(
            [("R²", {"a": [Point(1, 0.5, 0.1), Point(10, 0.6, 0.1)]}, [Point(1, 0.5, 0.1), Point(10, 0.6, 0.1)])] * 5,
            "latent_dim",
        ),
        "expansion": lambda: fg.expansion_modes_figure(
            [{"time": 0.1, **FIXED_POINTS[0]}, {"time": 0.2, **FIXED_POINTS[1]}]
        ),
        "jpca": lambda: fg.jpca_figure(np.zeros((3, 10, 2)), np.full((2, 2), 40.0), [2.0, 1.0], [2.1, 0.9]),
    }


@pytest.mark.parametrize("name", sorted(_all_figures()))
def test_every_figure_fits_a_row_and_its_text_is_legible_at_the_size_shown(name):
    fig = rendered(_all_figures()[name]())
    width, _ = fig.get_size_inches()
    assert width <= fg.FULL_WIDTH_IN
    small = [(t.get_text(), t.get_fontsize()) for t in texts(fig) if t.get_fontsize() < fg.MIN_TEXT_PT]
    assert not small, f"text under {fg.MIN_TEXT_PT:.1f} pt (10 CSS px): {small[:5]}"
    # titles, axis labels, legends and annotations lie inside the PNG: measured during figure_png's
    # own draw (another draw may settle a layout the PNG never had)
    fresh = _all_figures()[name]()
    outside: list[str] = []

    def measure(event) -> None:
        ticks = {id(t) for ax in fresh.axes for axis in (ax.xaxis, ax.yaxis) for t in axis.get_ticklabels(which="both")}
        frame = fresh.bbox.padded(1.0)
        for t in texts(fresh):
            extent = t.get_window_extent(event.renderer)
            if id(t) not in ticks and not (frame.contains(*extent.p0) and frame.contains(*extent.p1)):
                outside.append(t.get_text())

    fresh.canvas.mpl_connect("draw_event", measure)
    fg.figure_png(fresh)
    assert not outside, f"text outside the figure: {outside}"


# ----------------------------------------------------------------------------- flow field


def test_flow_field_2d_has_streamlines_nullclines_fixed_points_and_trajectories():
    flow, fixed, latents = tanh_flow()
    fig = rendered(fg.flow_field_figure(flow, fixed, latents, title="tanh RNN", max_trials=5))
    ax = fig.axes[0]
    assert ax.get_aspect() == 1.0
    assert ax.get_xlim() == (flow["flow_x"][0], flow["flow_x"][-1])
    assert any(isinstance(c, Collection) and c.get_array() is not None for c in ax.collections)  # speed colours
    (u_null,) = by_gid(fig, "nullcline-u")
    (v_null,) = by_gid(fig, "nullcline-v")
    # Δz1 = tanh(1.8 z1) − z1 vanishes on the lines z1 = 0 and z1 = ±r; Δz2 = tanh(0.5 z2) − z2 on z2 = 0
    u_vertices = np.concatenate([p.vertices for p in u_null.get_paths()])
    v_vertices = np.concatenate([p.vertices for p in v_null.get_paths()])
    spacing = np.diff(flow["flow_x"]).max()
    assert u_vertices.size and v_vertices.size
    assert np.min(np.abs(u_vertices[:, :1] - [[-R_TANH, 0.0, R_TANH]]), axis=1).max() < spacing
    assert np.abs(v_vertices[:, 1]).max() < spacing
    stable = by_gid(fig, "fixed-point-stable")
    unstable = by_gid(fig, "fixed-point-unstable")
    assert len(stable) == 2 and len(unstable) == 1
    assert stable[0].get_markerfacecolor() != unstable[0].get_markerfacecolor()
    np.testing.assert_allclose(sorted(float(s.get_xdata()[0]) for s in stable), [-R_TANH, R_TANH])
    assert len(by_gid(fig, "trajectory")) == 5
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "stable fixed point" in labels and "unstable fixed point" in labels
    assert any("nullcline" in label for label in labels)
    assert {"saddle", "stable node"} <= {t.get_text() for t in texts(fig)}


def test_flow_field_3d_section_projects_and_draws_no_nullclines():
    a = np.array([[0.95, -0.2, 0.0], [0.2, 0.95, 0.0], [0.0, 0.0, 0.8]])
    step = lambda z: z @ torch.as_tensor(a).T  # noqa: E731
    latents = np.zeros((4, 40, 3))
    for trial in range(4):
        z = np.array([np.cos(trial), np.sin(trial), 0.05 * trial])
        for t in range(40):
            latents[trial, t] = z
            z = a @ z
    flow = flow_field(step, latents)
    fig = rendered(fg.flow_field_figure(flow, [{"z": [0.0, 0.0, 0.0], "stable": True}], latents, title="spiral"))
    assert not by_gid(fig, "nullcline-u") and not by_gid(fig, "nullcline-v")
    assert "section" in fig.axes[0].get_title()
    (point,) = by_gid(fig, "fixed-point-stable")
    expected = (np.zeros(3) - flow["flow_centre"]) @ flow["flow_basis"]
    np.testing.assert_allclose([point.get_xdata()[0], point.get_ydata()[0]], expected)


def test_flow_field_1d_draws_the_increment_with_fixed_points_on_the_zero_line():
    latents = np.random.default_rng(6).normal(size=(3, 20, 1))
    flow = flow_field(lambda z: torch.tanh(2.0 * z), latents)
    fixed = [{"z": [0.0], "stable": False, "kind": "unstable node"}, {"z": [0.957], "stable": True}]
    fig = rendered(fg.flow_field_figure(flow, fixed, latents, title="1-D"))
    ax = fig.axes[0]
    curve = [line for line in ax.get_lines() if np.array_equal(line.get_xdata(), flow["flow_x"])]
    assert len(curve) == 1
    np.testing.assert_allclose(curve[0].get_ydata(), np.tanh(2.0 * flow["flow_x"]) - flow["flow_x"], atol=1e-12)
    (unstable,) = by_gid(fig, "fixed-point-unstable")
    assert unstable.get_ydata()[0] == 0.0
    assert by_gid(fig, "fixed-point-stable")


def test_flow_field_edge_inputs():
    flow, _, _ = tanh_flow(grid=9)
    # no fixed points, no latents
    fig = rendered(fg.flow_field_figure(flow, [], None, title="bare"))
    assert not by_gid(fig, "fixed-point-stable") and not by_gid(fig, "trajectory")
    # NaN where the map diverged, and a fixed point outside the view
    holed = dict(flow, flow_u=flow["flow_u"].copy(), flow_v=flow["flow_v"].copy())
    holed["flow_u"][:3] = np.nan
    holed["flow_v"][:3] = np.nan
    fig = rendered(fg.flow_field_figure(holed, [{"z": [50.0, 0.0], "stable": True}], None, title="holes"))
    assert not by_gid(fig, "fixed-point-stable")
    assert any("1 outside the view" in t.get_text() for t in fig.legends[0].get_texts())
    # a flow that is all NaN or all zero still renders, with a note
    dead = dict(flow, flow_u=np.full_like(flow["flow_u"], np.nan), flow_v=np.full_like(flow["flow_v"], np.nan))
    assert "no finite flow" in {t.get_text() for t in texts(rendered(fg.flow_field_figure(dead, [], None, title="x")))}
    still = flow_field(lambda z: z, np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert "F(z) = z everywhere" in {
        t.get_text() for t in texts(rendered(fg.flow_field_figure(still, [], None, title="x")))
    }
    with pytest.raises(ValueError, match="no flow field"):
        fg.flow_field_figure({}, [], None, title="empty")


# ----------------------------------------------------------------------------- training curves


def test_training_curves_group_objectives_and_put_the_learning_rate_on_a_log_axis():
    history = training_history()
    assert fg.training_panels(history) == [
        ["objective", "validation objective"],
        ["validation co-bps"],
        ["learning rate"],
    ]
    fig = rendered(fg.training_curves_figure(history))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    assert axes[2].get_yscale() == "log" and axes[0].get_yscale() == "linear"
    # the validation objective has a value every 5 epochs: its 12 finite points are joined
    validation = [line for line in axes[0].get_lines() if line.get_label() == "validation objective"]
    assert validation[0].get_xdata().tolist() == list(range(5, 61, 5))
    assert "lower is better" in axes[0].get_title() and "higher is better" in axes[1].get_title()
    # the best value is starred: the last epoch for a decaying objective
    stars = [line for line in axes[0].get_lines() if line.get_marker() == "*"]
    assert 60 in {float(s.get_xdata()[0]) for s in stars}


def test_training_curves_edge_inputs():
    fig = rendered(
        fg.training_curves_figure({"series": {"objective": [np.nan, None, np.nan], "lr": [1e-3, 1e-3, 1e-3]}})
    )
    assert "no finite values" in {t.get_text() for t in texts(fig)}
    assert fig.axes[1].get_yscale() == "log"
    one = rendered(fg.training_curves_figure({"x": "step", "steps": [0], "series": {"loss": [2.0]}}))
    assert one.axes[0].get_xlabel() == "step"
    with pytest.raises(ValueError):
        fg.training_curves_figure({"series": {}})


def test_training_panels_keep_different_directions_and_scales_apart():
    history = {
        "series": {"loss": [10.0, 5.0], "val loss": [11.0, 6.0], "far loss": [1e4, 2e4], "score": [9.0, 10.0]},
        "higher_is_better": {"loss": False, "val loss": False, "far loss": False, "score": True},
    }
    assert fg.training_panels(history) == [["loss", "val loss"], ["far loss"], ["score"]]
    assert fg.training_panels({"series": {"train": [100.0, 101.0], "validation": [130.0, 131.0]}}) == [
        ["train", "validation"]
    ]
    assert fg.training_panels({"series": {"learning_rate": [1.0], "LR (decoder)": [1.0]}}) == [
        ["learning_rate"],
        ["LR (decoder)"],
    ]


# ----------------------------------------------------------------------------- PSTHs


def test_condition_psths_average_observed_bins_per_condition():
    values = np.zeros((4, 5, 2))
    values[:2] = 1.0  # condition "b" trials
    values[2:] = 3.0  # condition "a"
    values[3, 0, 0] = 100.0  # unobserved below
    mask = np.ones(values.shape, bool)
    mask[3, 0, 0] = False
    names, psth = fg.condition_psths(values, mask, np.array(["b", "b", "a", "a"]), scale=10.0)
    assert names == ["a", "b"]
    assert psth.shape == (2, 5, 2)
    np.testing.assert_allclose(psth[0], 30.0)
    np.testing.assert_allclose(psth[1], 10.0)
    # no observed bin: NaN; no conditions: one group
    mask[2:, 1, 1] = False
    _, psth = fg.condition_psths(values, mask, np.array(["b", "b", "a", "a"]))
    assert np.isnan(psth[0, 1, 1]) and psth[1, 1, 1] == 1.0
    names, psth = fg.condition_psths(values, None, None)
    assert names == ["all trials"] and psth.shape == (1, 5, 2)


def test_condition_psth_smoothing_keeps_a_constant_and_ignores_gaps():
    values = np.full((3, 40, 1), 2.0)
    values[:, 10:15] = np.nan  # unobserved stretch
    _, psth = fg.condition_psths(values, None, None, smooth_bins=3.0)
    np.testing.assert_allclose(psth[0, :10], 2.0)  # edges and gap do not pull the mean to 0
    np.testing.assert_allclose(psth[0, 15:], 2.0)
    steps = np.zeros((1, 40, 1))
    steps[0, 20:] = 1.0
    _, smoothed = fg.condition_psths(steps, None, None, smooth_bins=3.0)
    assert 0.0 < smoothed[0, 19, 0] < smoothed[0, 20, 0] < 1.0


def test_best_units_skip_nan_and_rank_best_first():
    assert fg.best_units(np.array([0.1, np.nan, 0.9, 0.5, 0.9]), 3).tolist() == [2, 4, 3]
    assert fg.best_units(np.array([np.nan, 0.2]), 5).tolist() == [1]
    assert fg.best_units(np.array([0.3]), 0).tolist() == []


def test_psth_comparison_draws_recorded_solid_and_predicted_dashed_per_unit():
    time = np.linspace(0, 1, 20)
    rec = np.random.default_rng(7).uniform(size=(3, 20, 4))
    rec[0, :3, 0] = np.nan
    fig = rendered(
        fg.psth_comparison_figure(
            time, rec, rec + 1, ["x", "y", "z"], ["7", "8", "9", "10"], scores=[0.9, 0.8, np.nan, 0.5]
        )
    )
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 4
    lines = [line for line in panels[1].get_lines() if len(line.get_xdata()) == 20]
    assert sorted(line.get_linestyle() for line in lines) == ["-"] * 3 + ["--"] * 3
    assert panels[0].get_title() == "unit 7, R² = 0.90" and panels[2].get_title() == "unit 9"
    assert panels[0].get_ylabel() == "rate (spikes/s)"
    legend = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"recorded", "predicted", "x", "y", "z"} <= legend


def test_psth_comparison_with_one_condition_one_unit_and_many_conditions():
    time = np.linspace(0, 1, 10)
    one = rendered(fg.psth_comparison_figure(time, np.ones((1, 10, 1)), np.ones((1, 10, 1)), ["all trials"], ["u"]))
    assert len([ax for ax in one.axes if ax.get_visible()]) == 1
    many = rendered(
        fg.psth_comparison_figure(
            time, np.ones((20, 10, 2)), np.ones((20, 10, 2)), [str(i) for i in range(20)], ["a", "b"], rate_units="µV"
        )
    )
    assert "20 conditions (colours)" in {t.get_text() for t in many.legends[0].get_texts()}
    assert many.axes[0].get_ylabel() == "mean (µV)"
    with pytest.raises(ValueError):
        fg.psth_comparison_figure(time, np.ones((1, 10, 2)), np.ones((1, 10, 3)), ["a"], ["u", "v"])


# ----------------------------------------------------------------------------- eigenvalues


def _data_units_per_pixel(ax) -> tuple[float, float]:
    origin, x_end, y_end = ax.transData.transform([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return float(x_end[0] - origin[0]), float(y_end[1] - origin[1])


@pytest.mark.parametrize(
    "points",
    [
        FIXED_POINTS,
        [{"eigenvalues": [[0.99, 0.0], [0.2, 0.0]], "stable": True}],  # real eigenvalues only: a flat window
        [{"eigenvalues": [[np.nan, np.nan], [0.9, 0.3]], "stable": False}],
        [],
    ],
)
def test_eigenvalue_panels_draw_the_unit_circle_round(points):
    fig = rendered(fg.eigenvalue_figure(points))
    full, zoom = fig.axes[:2]
    for ax in (full, zoom):
        assert ax.get_aspect() == 1.0
        x_scale, y_scale = _data_units_per_pixel(ax)
        assert x_scale == pytest.approx(y_scale, rel=1e-3)  # a unit along Re λ as long as along Im λ on screen
        assert ax.get_window_extent().height > 150  # and the panel is not squashed
    for ax in (full, zoom):  # titles and axis labels inside the figure, clear of the legend
        assert ax.title.get_window_extent().y1 <= fig.bbox.y1
        assert ax.xaxis.label.get_window_extent().y0 >= fig.legends[0].get_window_extent().y1


# ----------------------------------------------------------------------------- spectra


def peak_lines(fig) -> dict[str, Line2D]:
    return {gid: line for gid in ("peak-recorded", "peak-generated") for line in by_gid(fig, gid)}


def test_spectral_peaks_are_marked_at_the_dominant_frequency():
    f = np.linspace(0, 50, 201)  # 0.25 Hz bins; the 0 Hz bin holds the largest value and must be skipped
    fig = rendered(fg.spectra_figure(f, spectrum(f, 6.0), spectrum(f, 10.0), activity_units="µV"))
    lines = peak_lines(fig)
    assert list(lines["peak-recorded"].get_xdata()) == [6.0, 6.0]
    assert list(lines["peak-generated"].get_xdata()) == [10.0, 10.0]
    labels = {t.get_text() for t in fig.axes[0].get_legend().get_texts()}
    assert "recorded peak: 6 Hz" in labels and "generated peak: 10 Hz" in labels
    assert spectral_peak_hz(f, spectrum(f, 6.0)) == 6.0


def test_given_peak_values_are_marked_instead():
    f = np.linspace(0, 50, 201)
    fig = rendered(
        fg.spectra_figure(f, spectrum(f, 6.0), spectrum(f, 10.0), recorded_peak_hz=5.9, generated_peak_hz=4.8)
    )
    lines = peak_lines(fig)
    assert list(lines["peak-recorded"].get_xdata()) == [5.9, 5.9]
    assert list(lines["peak-generated"].get_xdata()) == [4.8, 4.8]


def test_a_diverged_generated_spectrum_has_no_peak_marker():
    f = np.linspace(0, 50, 101)
    flat = np.ones((6, f.size))
    fig = rendered(fg.spectra_figure(f, spectrum(f, 6.0), flat))
    assert set(peak_lines(fig)) == {"peak-recorded"}
    assert spectral_peak_hz(f, flat) is None
    nan = np.full((6, f.size), np.nan)
    fig = rendered(fg.spectra_figure(f, spectrum(f, 6.0), nan))
    assert set(peak_lines(fig)) == {"peak-recorded"}
    inf = spectrum(f, 6.0)
    inf[2] = np.inf
    assert spectral_peak_hz(f, inf) == 6.0
    fig = rendered(fg.spectra_figure(f, nan, nan))
    assert not peak_lines(fig) and "no finite spectrum" in {t.get_text() for t in texts(fig)}


def test_figures_render_with_the_agg_canvas():
    """The figures use matplotlib's object API: they render without pyplot on the Agg canvas."""
    flow, fixed, latents = tanh_flow(grid=7)
    fig = fg.flow_field_figure(flow, fixed, latents, title="agg")
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    assert np.asarray(canvas.buffer_rgba()).shape[2] == 4
