"""Tests of the HTML report (neurodyn.report).

Inputs are built with the real package, as the workflow does: a small synthetic teacher session,
binned, fitted with two linear dynamical systems of different latent sizes and evaluated; the
EEG-like signal of the same session gives a continuous dataset.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from html import escape

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from neurodyn.analysis.evaluate import evaluate
from neurodyn.analysis.fixed_points.search import search_fixed_points
from neurodyn.data.binned import BinningOptions, bin_recording
from neurodyn.io.registry import read_source
from neurodyn.models import get_family
from neurodyn.report import ModelResult, build_index, build_report
from neurodyn.report.formatting import best_indices, format_number, format_value
from neurodyn.report.results import metric_specs
from neurodyn.report.summary import fixed_point_search_sentence, model_sentence
from neurodyn.synthetic import TeacherConfig, synthesize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TITLE = "Synthetic teacher — counts"
FAILED_FIGURE = "could not be drawn"


def _model(ds, name: str, latent_dim: int) -> ModelResult:
    started = time.perf_counter()
    fitted = get_family("lds").fit(ds, {"latent_dim": latent_dim}, torch.device("cpu"))
    seconds = time.perf_counter() - started
    result = evaluate(fitted, ds)
    return ModelResult(
        name,
        "lds",
        result.metrics,
        result.protocol,
        result.fixed_points,
        result.arrays,
        {"seconds": seconds, "device": "cpu"},
        distillation=result.distillation or {},
        fixed_point_search=result.fixed_point_search or {},
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Counts and continuous datasets, two counts models, one continuous model, the teacher."""
    root = tmp_path_factory.mktemp("report")
    synthesize(TeacherConfig(n_trials=24, n_units=30), root / "syn")
    recording = read_source(root / "syn" / "recording.nwb", inputs=["stimulus"])
    counts = bin_recording(
        recording,
        BinningOptions.from_config({"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]}),
    )
    eeg = read_source(root / "syn" / "eeg.edf")
    continuous = bin_recording(
        eeg, BinningOptions.from_config({"bin_size_s": None, "segment": "windows", "segment_length_s": 2.0})
    )
    return {
        "root": root,
        "counts": counts,
        "continuous": continuous,
        "models": [_model(counts, "lds_4", 4), _model(counts, "lds_2", 2)],
        "continuous_model": _model(continuous, "lds_eeg", 4),
        "teacher": json.loads((root / "syn" / "teacher.json").read_text()),
    }


@pytest.fixture(scope="module")
def counts_report(inputs):
    """(html, figures_dir, seconds) of the counts report with ground truth."""
    figures_dir = inputs["root"] / "figures"
    started = time.perf_counter()
    html = build_report(
        inputs["counts"], inputs["models"], title=TITLE, ground_truth=inputs["teacher"], figures_dir=figures_dir
    )
    return html, figures_dir, time.perf_counter() - started


# ----------------------------------------------------------------------------- helpers


def _embedded_figures(html: str) -> dict[str, bytes]:
    """{figure name: PNG bytes} of every embedded figure."""
    found = re.findall(r'<figure id="fig-([^"]+)"><img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    return {name: base64.b64decode(data, validate=True) for name, data in found}


def html_table(html: str, css_class: str) -> tuple[list[str], list[list[tuple[str, str]]]]:
    """(header labels, rows of (cell attributes, cell text)) of the first table with that class."""
    match = re.search(rf'<table class="{css_class}">(.*?)</table>', html, re.S)
    assert match, f"no table of class {css_class}"
    head, body = match.group(1).split("</thead>")
    header = [re.sub(r"<[^>]+>", "", h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head)]
    rows = [
        [(attrs, re.sub(r"<[^>]+>", "", text)) for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]
    return header, rows


def _expected_figures(models: list[ModelResult], dataset_figures: set[str]) -> set[str]:
    per_model = {f"{kind}_{m.name}" for m in models for kind in ("generated", "latents", "eigenvalues", "spectra")}
    per_model |= {f"transfer_{m.name}" for m in models if m.fixed_points}
    per_model |= {f"coherence_{m.name}" for m in models if m.arrays is not None and "coherence" in m.arrays}
    # counts: predicted vs recorded PSTHs; maps of 1-3 latents: their flow field
    per_model |= {f"psth_{m.name}" for m in models if m.arrays is not None and "psth_r2" in m.arrays}
    per_model |= {f"flow_{m.name}" for m in models if m.arrays is not None and "flow_u" in m.arrays}
    return dataset_figures | per_model


# ----------------------------------------------------------------------------- the counts report


def test_report_is_a_complete_document_with_header_and_sections(inputs, counts_report):
    html, _, _ = counts_report
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    assert "<title>Synthetic teacher — counts</title>" in html
    assert "<h1>Synthetic teacher — counts" in html and 'class="badge synthetic"' in html  # ground truth given
    assert "recording.nwb" in html
    assert inputs["counts"].attrs["created_by"] in html
    sections = ["summary", "comparison", "model-lds_4", "model-lds_2", "ground-truth", "dataset", "glossary"]
    positions = [html.index(f'<section id="{s}">') for s in [*sections, "provenance"]]
    assert positions == sorted(positions)  # the summary first, the provenance last
    assert re.findall(r"<section id=\"([^\"]+)\">", html)[0] == "summary"
    # the sidebar links every section
    toc = html.split('<nav class="toc"')[1].split("</nav>")[0]
    for section in sections:
        assert f'href="#{section}"' in toc
    assert FAILED_FIGURE not in html


def test_summary_says_what_each_model_found_with_numbers(inputs, counts_report):
    html, _, _ = counts_report
    summary = html.split('<section id="summary">')[1].split("</section>")[0]
    for model in inputs["models"]:
        assert f"<strong>{model.name}</strong>" in summary
        assert format_number(model.metrics["co_bps"]) in summary
        assert format_number(model.metrics["d_stsp"]) in summary
        kind = model.fixed_points[0]["kind"]
        assert kind in summary
    best = max(inputs["models"], key=lambda m: m.metrics["co_bps"])
    assert f"co-bps: {best.name} ({format_number(best.metrics['co_bps'])}" in summary
    teacher = inputs["teacher"]
    assert f"limit cycle at {format_number(teacher['limit_cycle']['frequency_hz'])} Hz" in summary


@pytest.mark.parametrize(
    ("coverage", "remark"),
    [
        (1.0, None),
        (0.6, None),
        (0.25, "only 25% of the generated steps lie in the recording's range, so D_stsp flatters them"),
        (0.0, "no generated step lies in the recording's range, so D_stsp says only that"),
        (None, None),  # from 6 dimensions: no box
    ],
)
def test_summary_warns_when_the_free_run_leaves_the_recorded_range(coverage, remark):
    metrics = {"d_stsp": 3.743, "d_h": 0.4, "d_stsp_coverage": coverage}
    sentence = model_sentence(ModelResult("m", "plrnn_em", metrics=metrics), "continuous", [])
    assert "D_stsp 3.74" in sentence
    if remark is None:
        assert "recording's range" not in sentence
    else:
        assert remark in sentence


def test_headline_table_is_compact_with_definitions(inputs, counts_report):
    html, _, _ = counts_report
    head = re.search(r'<table class="headline">(.*?)</thead>', html, re.S).group(1)
    metric_headers = re.findall(r'<th data-metric="([^"]+)" title="([^"]+)">', head)
    assert 4 <= len(metric_headers) <= 8
    specs = metric_specs()
    for key, title in metric_headers:
        assert title.startswith(escape(specs[key].definition, quote=True)), key
    assert [k for k, _ in metric_headers][:2] == ["co_bps", "psth_r2_heldout"]
    # every metric of the full table is in the glossary with its direction
    glossary = html.split('<section id="glossary">')[1].split("</section>")[0]
    for key in ("co_bps", "d_stsp", "d_h", "pse"):
        assert f'id="metric-{key}"' in glossary and escape(specs[key].definition) in glossary
    assert "Lower is better." in glossary and "Higher is better." in glossary


def test_dataset_summary_table_shows_the_summary(inputs, counts_report):
    html, _, _ = counts_report
    _, rows = html_table(html, "summary")
    values = {r[0][1] for r in rows}
    ds = inputs["counts"]
    assert str(ds.sizes["trial"]) in values
    assert str(ds.sizes["channel"]) in values
    assert "stimulus_0, stimulus_1" in values


def test_comparison_table_has_a_row_per_model_with_formatted_metrics(inputs, counts_report):
    html, _, _ = counts_report
    header, rows = html_table(html, "comparison")
    assert [r[0][1] for r in rows] == ["lds_4", "lds_2"]
    assert len(html_table(html, "headline")[1]) == 2
    for model, row in zip(inputs["models"], rows):
        cells = dict(zip(header, (text for _, text in row)))
        assert cells["co-bps (bits/spike)"] == f"{model.metrics['co_bps']:.3f}"
        assert cells["D_stsp (nats)"] == format_number(model.metrics["d_stsp"])
        assert cells["PSTH R² held-in"] == f"{model.metrics['psth_r2_heldin']:.3f}"
        assert cells["eval split"] == model.metrics["eval_split"]
    assert "R² held-out" not in header  # continuous-only column, absent from counts metrics
    # every registered metric's header carries its definition, and the glossary lists it
    specs = metric_specs()
    head = re.search(r'<table class="comparison">(.*?)</thead>', html, re.S).group(1)
    assert f'title="{escape(specs["d_stsp"].definition)}' in head
    assert "Glossary of metrics" in html and escape(specs["co_bps"].definition) in html


def test_best_value_per_column_is_highlighted_on_the_right_model(inputs, counts_report):
    html, _, _ = counts_report
    header, rows = html_table(html, "comparison")
    models = inputs["models"]
    for label, key, pick in (
        ("co-bps (bits/spike)", "co_bps", max),
        ("PSTH R² held-in", "psth_r2_heldin", max),
        ("D_stsp (nats)", "d_stsp", min),
        ("D_H", "d_h", min),
    ):
        column = header.index(label)
        values = [m.metrics[key] for m in models]
        assert values[0] != values[1]
        expected = values.index(pick(values))
        highlighted = [i for i, row in enumerate(rows) if "best" in row[column][0]]
        assert highlighted == [expected], label
    unranked = header.index("fixed points")
    assert not any("best" in row[unranked][0] for row in rows)
    header, rows = html_table(html, "headline")
    column = header.index("co-bps (bits/spike)")
    values = [m.metrics["co_bps"] for m in models]
    assert [i for i, row in enumerate(rows) if "best" in row[column][0]] == [values.index(max(values))]


def test_best_indices_directions_ties_and_missing():
    assert best_indices([0.2, 0.1], "higher") == {0}
    assert best_indices([5.0, 3.0], "lower") == {1}
    assert best_indices([1.0, None, 1.0], "higher") == {0, 2}
    assert best_indices([1.0, float("nan")], "lower") == set()  # nothing to compare
    assert best_indices([1.0, 2.0], None) == set()


def test_every_figure_is_an_embedded_png(inputs, counts_report):
    html, _, _ = counts_report
    figures = _embedded_figures(html)
    assert set(figures) == _expected_figures(inputs["models"], {"raster", "rates", "psth"})
    assert {"psth_lds_4", "psth_lds_2", "flow_lds_2"} <= set(figures) and "flow_lds_4" not in figures  # 4 latents
    for name, png in figures.items():
        assert png.startswith(PNG_MAGIC), name


def test_figures_dir_receives_the_same_pngs(inputs, counts_report):
    html, figures_dir, _ = counts_report
    embedded = _embedded_figures(html)
    written = {p.stem: p.read_bytes() for p in figures_dir.glob("*.png")}
    assert set(written) == set(embedded)
    assert {"raster", "rates", "psth", "latents_lds_4", "eigenvalues_lds_2", "spectra_lds_2"} <= set(written)
    for name, png in written.items():
        assert png == embedded[name], name


def test_report_is_self_contained(counts_report):
    html, _, _ = counts_report
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html
    assert "<style>" in html


def test_report_leaves_pyplot_state_alone(inputs):
    plt.close("all")
    backend = matplotlib.get_backend()
    build_report(inputs["counts"], inputs["models"][:1], title="leak check")
    assert plt.get_fignums() == [] and matplotlib.get_backend() == backend


def test_fixed_points_protocol_and_ground_truth_are_shown(inputs, counts_report):
    html, _, _ = counts_report
    model = inputs["models"][0]
    _, rows = html_table(html, "fixed-points")
    assert rows[0][1][1] == model.fixed_points[0]["kind"]
    assert rows[0][3][1] == format_number(model.fixed_points[0]["spectral_radius"])
    assert "<details><summary>Evaluation protocol</summary>" in html
    assert "d_stsp_space" in html
    teacher = inputs["teacher"]
    section = html.split('<section id="ground-truth">')[1].split("</section>")[0]
    assert format_number(teacher["limit_cycle"]["frequency_hz"]) in section
    assert teacher["fixed_points"][0]["kind"] in section
    assert model.metrics["generated_peak_hz"] is not None
    assert format_number(model.metrics["generated_peak_hz"]) in section


def test_each_model_says_how_its_fixed_points_were_found(inputs, counts_report):
    html, _, _ = counts_report
    section = html.split('<section id="model-')[1].split("</section>")[0]
    # an affine map's one fixed point is exact
    assert inputs["models"][0].fixed_point_search["mode"] == "exact"
    assert '<p class="finding search-completeness">Every fixed point, solved exactly (affine).</p>' in section


def test_a_numerical_search_is_described_with_its_completeness():
    W = torch.tensor([[2.0, 0.0], [0.0, 1.5]], dtype=torch.float64)
    cube = (-torch.ones(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    found = search_fixed_points(lambda z: torch.tanh(z @ W.T), 2, region=cube, region_kind="open cube", mode="grid")
    text = fixed_point_search_sentence(found.completeness())
    starts = sum(r.n_starts for r in found.rounds)
    assert text.startswith(
        f"Numerical search (grid): {starts} starts in the region that holds the fixed points (open cube), "
        "Newton with deflation"
    )
    assert "first found by: 9 grid." in text
    assert "The last 2 rounds of fresh starts found no new point; estimated total 9 (Chao 1984" in text
    still = {**found.completeness(), "new_in_last_round": 2, "rounds_without_new_points": 0}
    assert "still found 2 new points: the list is likely incomplete" in fixed_point_search_sentence(still)
    line = {**found.completeness(), "truncated": True, "n_fixed_points": 256}
    assert "continuum of fixed points" in fixed_point_search_sentence(line)
    assert fixed_point_search_sentence({}) == ""
    visited = {**found.completeness(), "mode": "visited", "n_starts": 40}
    assert fixed_point_search_sentence(visited).startswith("Numerical search from 40 visited states only")
    assert "heuristic" in fixed_point_search_sentence({"mode": "heuristic", "method": "PLRNN activation patterns"})


# ----------------------------------------------------------------------------- robustness


def test_missing_metrics_and_optional_parts_render_as_dash(inputs, tmp_path):
    full = inputs["models"][0]
    metrics = {k: v for k, v in full.metrics.items() if k != "psth_r2_heldout"}
    metrics["co_bps"] = None
    sparse = ModelResult("sparse", "lds", metrics, {}, [], None, {})
    arrays = full.arrays.drop_vars(["psd_recorded", "psd_generated", "condition"])
    no_psd = replace(full, name="no_psd", arrays=arrays, fit={}, fixed_points=[])
    ds = inputs["counts"].drop_vars("condition")
    html = build_report(
        ds, [full, sparse, no_psd], title="sparse", figures_dir=tmp_path, ground_truth={"something_new": [1, 2]}
    )
    header, rows = html_table(html, "comparison")
    cells = dict(zip(header, (text for _, text in rows[1])))
    assert cells["co-bps (bits/spike)"] == "—"
    assert cells["PSTH R² held-out"] == "—"
    assert cells["D_stsp (nats)"] == format_number(full.metrics["d_stsp"])
    header, rows = html_table(html, "headline")
    assert dict(zip(header, (text for _, text in rows[1])))["fit time (s)"] == "—"
    assert "No fixed points found." in html
    assert FAILED_FIGURE not in html
    figures = _embedded_figures(html)
    assert "psth" not in figures  # no conditions
    assert "spectra_no_psd" not in figures and "latents_no_psd" in figures
    assert "eigenvalues_sparse" in figures and "generated_sparse" not in figures
    assert "The ground truth lists no fixed points." in html


def test_names_are_escaped(inputs):
    model = replace(inputs["models"][0], name="<b>lds</b>")
    html = build_report(inputs["counts"], [model], title="a <script> & title")
    assert "<script>" not in html and "<b>lds</b>" not in html
    assert "&lt;b&gt;lds&lt;/b&gt;" in html


def test_continuous_dataset_renders(inputs, tmp_path):
    model = inputs["continuous_model"]
    html = build_report(inputs["continuous"], [model], title="Synthetic EEG", figures_dir=tmp_path)
    assert "<h1>Synthetic EEG</h1>" in html and "eeg.edf" in html
    assert 'class="badge synthetic"' not in html  # no ground truth given
    assert FAILED_FIGURE not in html
    header, rows = html_table(html, "comparison")
    assert "co-bps (bits/spike)" not in header
    cells = dict(zip(header, (text for _, text in rows[0])))
    assert cells["R² held-out"] == format_number(model.metrics["r2_heldout"])
    expected = _expected_figures([model], {"raster", "variance"})
    assert "coherence_lds_eeg" in expected  # continuous data: latent–channel coherence
    # the EEG-like channels are mixtures of the teacher's latents: some latent is coherent with them
    assert model.metrics["latent_coherence_max"] > 0.5
    assert set(_embedded_figures(html)) == expected
    assert {p.stem for p in tmp_path.glob("*.png")} == expected
    assert "http://" not in html and "https://" not in html


def test_format_value():
    assert format_value(None) == "—"
    assert format_value(float("nan")) == "—"
    assert format_value(0.12345) == "0.123"
    assert format_value(-0.5) == "-0.500"
    assert format_value(2.5e-5) == "2.5e-05"
    assert format_value(123456.0) == "1.23e+05"
    assert format_value(7) == "7"
    assert format_value(True) == "yes"
    assert format_value({"train": 3, "test": 1}) == "train 3, test 1"
    assert format_value("") == "—"


# ----------------------------------------------------------------------------- the index


def test_index_links_each_report_with_headline_numbers(inputs):
    counts_models = {m.name: m.metrics for m in inputs["models"]}
    entries = [
        {
            "dataset": "synthetic_counts",
            "report": "synthetic_counts/report.html",
            "kind": "counts",
            "summary": {"n_trials": 24, "n_channels": 30, "n_heldout_channels": 6},
            "models": counts_models,
        },
        {
            "dataset": "synthetic_eeg",
            "report": "synthetic_eeg/report.html",
            "kind": "continuous",
            "summary": {"n_trials": 26, "n_channels": 8},
            "models": {"lds_eeg": inputs["continuous_model"].metrics},
        },
        {"dataset": "unfitted & new", "report": "unfitted/report.html", "summary": {}, "models": {}},
    ]
    html = build_index(entries)
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    for entry in entries[:2]:
        assert f'<a href="{entry["report"]}">{entry["dataset"]}</a>' in html
    assert '<a href="unfitted/report.html">unfitted &amp; new</a>' in html
    header, rows = html_table(html, "index headline")
    assert len(rows) == 3  # one row per dataset
    best = max(counts_models, key=lambda name: counts_models[name]["co_bps"])
    cells = dict(zip(header, (text for _, text in rows[0])))
    assert cells["co-bps (bits/spike)"] == f"{format_number(counts_models[best]['co_bps'])} {best}"
    assert format_number(inputs["continuous_model"].metrics["r2_heldout"]) in html
    assert "—" in [text for _, text in rows[-1]]
    assert all('title="' in h for h in re.findall(r"<th data-metric[^>]*>", html))
    _, every = html_table(html, "index-models")
    assert len(every) == 3  # two counts models, one continuous model
    assert "http://" not in html and "https://" not in html


def test_distillation_section_lists_each_model(inputs, counts_report):
    html = counts_report[0]
    assert '<section id="distillation">' in html
    section = html.split('<section id="distillation">')[1].split("</section>")[0]
    for model in inputs["models"]:
        d = model.distillation
        assert d["n_neurons"] >= 1 and d["rel_mse"] <= d["curve"][0]
        assert f"<td>{model.name}</td>" in section
        comp = d["comparison"]
        assert comp["n_matched"] <= min(comp["n_source"], comp["n_distilled"])
        if d["reached_tol"] and comp["n_source"]:
            # a linear model's map is affine: its one fixed point is what a good distillation must have
            assert comp["n_matched"] == comp["n_source"] == 1 and comp["stability_agrees"]
    # on the synthetic teacher's spikes, the 2-latent model's distilled network (measured: 58 neurons,
    # relative MSE 0.0095) has the model's one stable fixed point, at 8 % of the states' spread
    two = next(m for m in inputs["models"] if m.name == "lds_2").distillation
    assert two["reached_tol"] and two["comparison"]["same"] and two["comparison"]["n_source"] == 1
