"""Report pages in a real browser: headless Chromium through selenium, 1280 px wide.

Each page is opened once; every part of the page contract (``tests/browser.py``: console,
self-contained, images, width, metric definitions, summary first, table of contents, links,
size) is its own test, so a run lists exactly what holds and what does not. A full-page
screenshot of each page goes to ``--browser-output`` (default ``test-output/browser``).

Pages: by default a small results tree built here with the workflow's own stages (a synthetic
teacher's spikes and EEG-like signal, an ``lds`` and an ``smc_lowrank`` at their quick options on
each, their reports, a small theory page and the index); with ``--browser-pages DIR``,
``DIR/index.html`` and every ``report.html`` under DIR (``results/`` after ``make demo``).
Skipped, with the reason, where selenium, chromium or chromedriver is missing.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from browser import CHECKS, PNG_MAGIC, VIEWPORT_WIDTH, PageIds, missing_browser, screenshot_name, visit

# the pages of the tree built below, relative to its results folder, as the workflow lays them out
BUILT_PAGES = ("index.html", "demo_spikes/report.html", "demo_eeg/report.html", "theory/report.html")

SPIKES = {
    "source": {"kind": "nwb", "inputs": ["stimulus"]},
    "binning": {"bin_size_s": 0.02, "align_event": "stim_on_time", "window_s": [-0.2, 0.8]},
    "split": {"column": "data_split"},
    "heldout": {"column": "heldout"},
}
EEG = {
    "source": {"kind": "edf"},
    "binning": {"bin_size_s": None, "segment": "windows", "segment_length_s": 2.0, "zscore": True},
    "heldout": {"fraction": 0.25},
}
THEORY = {"sizes": [40], "seeds": 1, "settings": {"tanh_g1p5": {"phi": "tanh", "g": 1.5, "targets": [1.0]}}}


def listed_pages(directory: Path) -> list[str]:
    """``index.html`` and every ``report.html`` under ``directory``, relative to it."""
    reports = sorted(str(p.relative_to(directory)) for p in directory.rglob("report.html"))
    return ["index.html", *reports]


def pytest_generate_tests(metafunc):
    if "page" in metafunc.fixturenames:
        option = metafunc.config.getoption("--browser-pages")
        pages = listed_pages(Path(option)) if option else list(BUILT_PAGES)
        metafunc.parametrize("page", pages, scope="module")


def build_results_tree(root: Path) -> Path:
    """A results folder as ``make demo`` lays it out, made by the workflow's stages: returns it."""
    from neurodyn.models import FAMILIES
    from neurodyn.stages import analyze_stage, fit_stage, index_stage, report_stage, synthesize_stage
    from neurodyn.stages.data import ingest_and_bin_stage
    from neurodyn.stages.report import INDEX_LABEL, THEORY_LABEL
    from neurodyn.studies.reservoir_theory.stage import theory_stage

    results = root / "results"
    theory = results / "theory"
    # the links between the pages, as workflow/rules/report.smk and workflow/scripts/{index,theory}.py give them
    report_links = [("../index.html", INDEX_LABEL), ("../theory/report.html", THEORY_LABEL)]
    synthetic = synthesize_stage(
        {"seed": 0, "n_units": 20, "n_trials": 24, "n_conditions": 2}, root / "resources" / "synthetic" / "demo"
    )
    models = {"lds": "lds", "smc": "smc_lowrank"}
    metrics = {}
    for dataset, source, entry in (("demo_spikes", synthetic["nwb"], SPIKES), ("demo_eeg", synthetic["edf"], EEG)):
        folder = results / dataset
        store = ingest_and_bin_stage(source, entry, folder / "dataset.zarr")
        analyses = {}
        for name, family in models.items():
            model_dir = fit_stage(
                store,
                {"family": family, **FAMILIES[family].quick_options},
                folder / "models" / name,
                device="cpu",
                where=f"models.{name}",
            )
            analyses[name] = folder / "analysis" / name
            analyze_stage(
                store, model_dir, {"eval_split": "test"}, analyses[name], names={"dataset": dataset, "model": name}
            )
        report_stage(
            store,
            analyses,
            folder / "report.html",
            title=dataset,
            figures_dir=folder / "figures",
            metrics_out=folder / "metrics.json",
            ground_truth=synthetic["teacher_json"],
            pages=report_links,
        )
        metrics[dataset] = folder / "metrics.json"
    theory_stage(
        THEORY,
        theory / "report.html",
        theory / "metrics.json",
        figures_dir=theory / "figures",
        pages=[("../index.html", INDEX_LABEL)],
    )
    index_stage(metrics, results / "index.html", pages={THEORY_LABEL: theory / "report.html"})
    return results


@pytest.fixture(scope="module")
def browser():
    reason = missing_browser()
    if reason:
        pytest.skip(reason)
    from browser import start_browser

    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def pages_root(browser, request, tmp_path_factory) -> Path:
    option = request.config.getoption("--browser-pages")
    if option:
        return Path(option).resolve()
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest, and robust to a busy machine
    try:
        return build_results_tree(tmp_path_factory.mktemp("browser"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def screenshots(request, pages_root) -> Path:
    """``<--browser-output>/built`` for the tree built here, ``<--browser-output>/<DIR's name>`` else,
    without the screenshots of an earlier run."""
    option = request.config.getoption("--browser-pages")
    folder = Path(request.config.getoption("--browser-output")).resolve() / (pages_root.name if option else "built")
    for old in folder.glob("*.png"):
        old.unlink()
    return folder


@pytest.fixture(scope="module")
def visited(browser, pages_root, screenshots):
    """page (relative path) → its :class:`browser.PageResult`, each page opened once."""
    seen = {}
    other_pages = PageIds(browser)

    def get(page: str):
        if page not in seen:
            path = pages_root / page
            if not path.is_file():
                pytest.fail(f"{path} does not exist")
            seen[page] = visit(browser, path, screenshots / screenshot_name(path, pages_root), other_pages, pages_root)
        return seen[page]

    return get


@pytest.mark.parametrize("check", CHECKS)
def test_page_keeps_the_contract(page, check, visited):
    problems = visited(page).problems[check]
    assert not problems, f"{page}: {check}:\n  " + "\n  ".join(problems)


def test_full_page_screenshot_is_saved(page, visited):
    shot = visited(page).screenshot
    data = shot.read_bytes()
    assert data.startswith(PNG_MAGIC), shot
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert width >= VIEWPORT_WIDTH and height > 0, (shot, width, height)


# ----------------------------------------------------------------------------- the checks can fail

BAD_REPORT = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title>
<link rel="stylesheet" href="https://example.org/style.css"></head>
<body><main>
<section id="data"><h2>Data</h2><a href="#nowhere">dangling</a> <a href="missing.html">gone</a>
<a href="../good/report.html#no-such-id">wrong fragment</a> <a href="../good/report.html#summary">right one</a></section>
<section id="summary"><table><tr><th data-metric="d_stsp">D_stsp</th><th data-metric="co_bps" title="bits">co-bps</th></tr></table>
<img alt="broken" src="data:image/png;base64,AAAA"><img alt="absent" src="figures/absent.png">
<div id="too-wide" style="width: 2000px; height: 10px"></div>
<div style="overflow-x: auto"><div style="width: 3000px; height: 10px">scrolls</div></div>
<details><summary>more</summary><table id="hidden-wide" style="width: 1500px"><tr><td>x</td></tr></table></details>
</section></main>
<script>throw new Error("broken script");</script>
<!-- PADDING -->
</body></html>"""

DOT = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
GOOD_REPORT = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>good</title></head><body>
<nav class="toc"><a href="#summary">Summary</a> <a href="../index.html">Index</a></nav>
<main><section id="summary"><table><tr><th data-metric="co_bps" title="bits per spike">co-bps</th></tr></table>
<img alt="dot" src="{DOT}"></section><section id="results"><a href="../bad/report.html#data">elsewhere</a></section>
</main></body></html>"""
GOOD_INDEX = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>index</title></head><body>
<nav class="toc"><a href="#datasets">Datasets</a></nav><main><section id="datasets">
<table><tr><th>dataset</th><th data-metric="co_bps" title="bits per spike">co-bps</th></tr>
<tr><td><a href="good/report.html">good</a></td><td>0.1</td></tr>
<tr><td><a href="bad/report.html#summary">bad</a></td><td>0.2</td></tr></table></section></main></body></html>"""


def test_checks_flag_a_broken_page_and_pass_sound_ones(browser, tmp_path):
    for name, text in (
        ("bad/report.html", BAD_REPORT.replace("<!-- PADDING -->", "<!--" + "x" * 5_000_001 + "-->")),
        ("good/report.html", GOOD_REPORT),
        ("index.html", GOOD_INDEX),
    ):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)

    found = visit(browser, tmp_path / "bad" / "report.html", tmp_path / "bad.png").problems
    flagged = {check: "\n".join(lines) for check, lines in found.items() if lines}
    assert set(flagged) == set(CHECKS), found
    assert "broken script" in flagged["console"]
    assert "example.org" in flagged["self_contained"] and "absent.png" in flagged["self_contained"]
    assert "broken" in flagged["images"] and "absent" in flagged["images"]
    assert "div#too-wide" in flagged["width"] and "scrolls" not in flagged["width"]
    assert (
        "table#hidden-wide (right edge 1508 px) sticks out of the 1280 px viewport with its 1 <details> open"
        in (flagged["width"])
    )
    assert "d_stsp" in flagged["metric_definitions"] and "co_bps" not in flagged["metric_definitions"]
    assert "section#data" in flagged["summary_first"]
    assert "no table of contents" in flagged["toc"]
    links = found["links"]
    assert len(links) == 3, links  # #nowhere, missing.html, #no-such-id (not #summary)
    assert "index" in flagged["cross_links"]
    assert "MB" in flagged["size"]

    for page in ("good/report.html", "index.html"):
        sound = visit(browser, tmp_path / page, tmp_path / "good.png").problems
        assert sound == {check: [] for check in CHECKS}, (page, sound)
