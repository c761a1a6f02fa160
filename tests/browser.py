"""Report pages opened in headless Chromium through selenium, as a reader opens them.

:func:`start_browser` starts Chromium (Debian's ``chromium`` with its matching ``chromium-driver``)
at the width the pages must fit; :func:`visit` loads one page, saves a full-page screenshot and
runs every check of the page contract (:data:`CHECKS`), each giving a list of problems (empty when
the page keeps that part of the contract):

* ``console``: no console errors (level SEVERE);
* ``self_contained``: every src/href of img, script, link, iframe, source, video, audio, embed and
  object is a ``data:`` URL, an in-page ``#anchor`` or a relative file that exists, and the page
  loaded no resource other than ``data:``/``file:`` ones (network requests are blocked meanwhile);
* ``images``: every image decoded (complete, naturalWidth > 0);
* ``width``: nothing wider than the viewport — the document's scroll width and the right edge of
  every visible element outside a scroll container are within ``innerWidth``, as the page opens
  and again with every ``<details>`` open;
* ``metric_definitions``: every ``th[data-metric]`` has a non-empty ``title``; dataset reports and
  the index have at least one;
* ``summary_first``: the first ``section`` inside ``main`` of a dataset report has id ``summary``;
* ``toc``: a ``nav.toc`` with links, each resolving;
* ``links``: every ``#anchor`` names an element of the page, every relative link an existing file,
  and the ``#fragment`` of a link to another page an element of that page;
* ``cross_links``: the index links every ``report.html`` under its folder (dataset reports and the
  theory page), and each of those links back to the index;
* ``size``: the HTML file is at most :data:`MAX_PAGE_BYTES`.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

VIEWPORT_WIDTH = 1280
VIEWPORT_HEIGHT = 900
MAX_PAGE_BYTES = 5_000_000  # 5 MB
# Chromium draws at most this many pixels down in one screenshot; a longer page is cut there
MAX_SCREENSHOT_HEIGHT = 16_000
CHECKS = (
    "console",
    "self_contained",
    "images",
    "width",
    "metric_definitions",
    "summary_first",
    "toc",
    "links",
    "cross_links",
    "size",
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_RESOURCE_TAGS = (
    "img[src], script[src], link[href], iframe[src], source[src], video[src], audio[src], embed[src], object[data]"
)


def chromium_paths() -> tuple[str | None, str | None]:
    """(browser, driver) executables: Debian's ``chromium`` and ``chromedriver``."""
    return (
        shutil.which("chromium") or _existing("/usr/bin/chromium"),
        shutil.which("chromedriver") or _existing("/usr/bin/chromedriver"),
    )


def _existing(path: str) -> str | None:
    return path if os.access(path, os.X_OK) else None


def missing_browser() -> str | None:
    """Why the pages cannot be opened here (selenium, chromium or chromedriver absent), or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    browser, driver = chromium_paths()
    if browser is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if driver is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def start_browser(width: int = VIEWPORT_WIDTH, height: int = VIEWPORT_HEIGHT):
    """Headless Chromium whose viewport is ``width`` CSS pixels wide, logging the console, with every
    http(s) request blocked (a self-contained page makes none)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium's sandbox refuses to run as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    return driver


def page_kind(path: Path) -> str:
    """``index`` (index.html), ``theory`` (theory/report.html) or ``dataset`` (another report.html)."""
    if path.name == "index.html":
        return "index"
    return "theory" if path.parent.name == "theory" else "dataset"


def screenshot_name(path: Path, root: Path) -> str:
    """The screenshot's file name of page ``path`` under ``root``: ``demo_spikes/report.html`` →
    ``demo_spikes__report.png``."""
    return "__".join(path.resolve().relative_to(root.resolve()).with_suffix(".png").parts)


@dataclass
class PageResult:
    """What :func:`visit` found on one page: problems per check, and where its screenshot is."""

    path: Path
    kind: str
    problems: dict[str, list[str]] = field(default_factory=dict)
    screenshot: Path | None = None


# ---------------------------------------------------------------------------- in-page probes
# each runs in the page and returns plain data; the rules are applied in Python below

_PROBE = (
    r"""
const W = window.innerWidth;
const describe = (el) => {
  let s = el.tagName.toLowerCase();
  if (el.id) s += '#' + el.id;
  const cls = (typeof el.className === 'string' ? el.className : (el.getAttribute('class') || '')).trim();
  if (cls) s += '.' + cls.split(/\s+/).join('.');
  return s;
};
const inScroller = (el) => {
  for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
    const ox = getComputedStyle(a).overflowX;
    if (ox === 'auto' || ox === 'scroll' || ox === 'hidden' || ox === 'clip') return true;
  }
  return false;
};
const tooWide = () => {
  window.scrollTo(0, 0);
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width <= 0 || r.height <= 0) continue;
    // hidden: display none, visibility hidden, or the content of a closed <details>
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    if (r.right > W + 0.5 && !inScroller(el)) wide.push([el, Math.round(r.right)]);
  }
  const wideSet = new Set(wide.map((w) => w[0]));
  const outermost = wide.filter(([el]) => {
    for (let a = el.parentElement; a; a = a.parentElement) if (wideSet.has(a)) return false;
    return true;
  });
  return {scrollWidth: document.documentElement.scrollWidth, n: wide.length,
          outermost: outermost.map(([el, right]) => describe(el) + ' (right edge ' + right + ' px)')};
};
const asShown = tooWide();
// what a reader sees after opening every collapsed part (the full tables, the provenance)
const closed = [...document.querySelectorAll('details:not([open])')];
closed.forEach((d) => { d.open = true; });
const opened = tooWide();
closed.forEach((d) => { d.open = false; });
window.scrollTo(0, 0);
const main = document.querySelector('main');
const firstSection = main ? main.querySelector('section') : null;
const toc = document.querySelector('nav.toc');
return {
  innerWidth: W,
  asShown: asShown,
  opened: opened,
  nClosed: closed.length,
  images: [...document.images].map((img) => ({
    what: describe(img), alt: img.getAttribute('alt') || '', src: (img.getAttribute('src') || '').slice(0, 80),
    complete: img.complete, naturalWidth: img.naturalWidth})),
  resources: [...document.querySelectorAll('"""
    + _RESOURCE_TAGS
    + r"""')].map((el) => ({
    what: describe(el), url: el.getAttribute(el.tagName === 'OBJECT' ? 'data' : (el.tagName === 'LINK' ? 'href' : 'src'))})),
  loaded: performance.getEntriesByType('resource').map((e) => e.name),
  links: [...document.querySelectorAll('a[href], area[href]')].map((a) => ({what: describe(a), href: a.getAttribute('href')})),
  ids: [...document.querySelectorAll('[id]')].map((e) => e.id).concat(
    [...document.querySelectorAll('a[name]')].map((e) => e.getAttribute('name'))),
  metricHeaders: [...document.querySelectorAll('th[data-metric]')].map((th) => ({
    metric: th.getAttribute('data-metric'), title: th.getAttribute('title'), text: th.textContent.trim()})),
  hasMain: main !== null,
  firstSection: firstSection ? describe(firstSection) : null,
  firstSectionId: firstSection ? firstSection.id : null,
  sections: main ? [...main.querySelectorAll('section')].slice(0, 4).map(describe) : [],
  toc: toc === null ? null : [...toc.querySelectorAll('a[href]')].map((a) => a.getAttribute('href')),
};
"""
)

# every image loaded eagerly and decoded before it is looked at (a lazy image below the fold
# would otherwise never load in a browser that does not scroll)
_DECODE_IMAGES = r"""
const done = arguments[arguments.length - 1];
const images = [...document.images];
images.forEach((img) => { if (img.loading === 'lazy') img.loading = 'eager'; });
Promise.all(images.map((img) => img.decode().catch(() => null))).then(() => done(true));
setTimeout(() => done(false), 20000);
"""

_IDS = "return [...document.querySelectorAll('[id]')].map((e) => e.id).concat([...document.querySelectorAll('a[name]')].map((e) => e.getAttribute('name')));"


def _local_target(url: str, page: Path) -> tuple[Path | None, str, str | None]:
    """(file, fragment, why not local) of a link or resource URL on ``page``: ``file`` is None for an
    in-page ``#anchor``; ``why not local`` names a URL that is neither in-page nor a relative path."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None, parts.fragment, f"not a relative link ({parts.scheme or 'network-path'})"
    if not parts.path:
        return None, unquote(parts.fragment), None
    if parts.path.startswith("/"):
        return None, parts.fragment, "an absolute path (breaks when the folder is moved)"
    return (page.parent / unquote(parts.path)).resolve(), unquote(parts.fragment), None


class PageIds:
    """The element ids of other pages, each page opened once in its own tab."""

    def __init__(self, driver):
        self.driver = driver
        self.cache: dict[Path, set[str]] = {}

    def of(self, path: Path) -> set[str]:
        if path not in self.cache:
            main = self.driver.current_window_handle
            self.driver.switch_to.new_window("tab")
            try:
                self.driver.get(path.as_uri())
                self.cache[path] = set(self.driver.execute_script(_IDS))
            finally:
                self.driver.close()
                self.driver.switch_to.window(main)
        return self.cache[path]


def _link_problems(hrefs: list[tuple[str, str]], page: Path, ids: set[str], other_pages: PageIds) -> list[str]:
    """Problems of links ``(description, href)`` on ``page`` (whose element ids are ``ids``):
    external links (http, https, mailto) are not followed."""
    problems = []
    for what, href in hrefs:
        scheme = urlsplit(href).scheme
        if scheme in ("http", "https", "mailto"):
            continue
        target, fragment, foreign = _local_target(href, page)
        if foreign:
            problems.append(f"{what} → {href!r}: {foreign}")
            continue
        if target is None:
            if fragment and fragment not in ids:
                problems.append(f"{what} → {href!r}: no element with id {fragment!r} on this page")
            elif not fragment:
                problems.append(f"{what} → {href!r}: empty link")
            continue
        if not target.exists():
            problems.append(f"{what} → {href!r}: {target} does not exist")
            continue
        if fragment:
            if target == page.resolve():
                found = fragment in ids
            elif target.suffix in (".html", ".htm"):
                found = fragment in other_pages.of(target)
            else:
                found = True  # a fragment into a non-HTML file is the viewer's business
            if not found:
                problems.append(f"{what} → {href!r}: {target.name} has no element with id {fragment!r}")
    return problems


def _screenshot(driver, out: Path) -> Path:
    """A PNG of the whole page (its full height and scroll width) through the DevTools protocol."""
    metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics.get("cssContentSize") or metrics["contentSize"]
    clip = {
        "x": 0,
        "y": 0,
        "width": max(1, int(content["width"])),
        "height": max(1, min(int(content["height"]), MAX_SCREENSHOT_HEIGHT)),
        "scale": 1,
    }
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(shot["data"]))
    return out


def _link_targets(hrefs: list[str], page: Path) -> set[Path]:
    """The files that relative links ``hrefs`` on ``page`` lead to."""
    targets = set()
    for href in hrefs:
        target, _, foreign = _local_target(href, page)
        if target is not None and not foreign:
            targets.add(target)
    return targets


def visit(
    driver, path: Path, screenshot: Path | None, other_pages: PageIds | None = None, root: Path | None = None
) -> PageResult:
    """Open ``path`` and check it against the page contract; save its full-page screenshot at
    ``screenshot`` (when given). ``root``: the folder of the index (default: the page's own folder
    for ``index.html``, its parent's for a report)."""
    path = Path(path).resolve()
    kind = page_kind(path)
    root = Path(root).resolve() if root is not None else path.parent if kind == "index" else path.parent.parent
    result = PageResult(path, kind)
    other_pages = other_pages or PageIds(driver)
    driver.get_log("browser")  # what an earlier page logged is that page's business
    driver.get(path.as_uri())
    decoded = driver.execute_async_script(_DECODE_IMAGES)
    probe: dict[str, Any] = driver.execute_script(_PROBE)
    console = driver.get_log("browser")
    problems = result.problems

    problems["console"] = [f"{e.get('source', '')}: {e['message']}" for e in console if e.get("level") == "SEVERE"]

    own = []
    for r in probe["resources"]:
        url = (r["url"] or "").strip()
        if url.startswith("data:"):
            continue
        target, _, foreign = _local_target(url, path) if url else (None, "", "an empty address")
        if foreign:
            own.append(f"{r['what']} loads {url[:100]!r}: {foreign}")
        elif target is not None and not target.exists():
            own.append(f"{r['what']} loads {url[:100]!r}: {target} does not exist")
    own += [f"the page requested {name[:100]!r}" for name in probe["loaded"] if not name.startswith(("data:", "file:"))]
    problems["self_contained"] = own

    problems["images"] = [
        f"{i['what']} (alt {i['alt']!r}, src {i['src']!r}…) not decoded: complete={i['complete']}, "
        f"naturalWidth={i['naturalWidth']}"
        for i in probe["images"]
        if not (i["complete"] and i["naturalWidth"] > 0)
    ] + ([] if decoded else ["images were still decoding after 20 s"])

    width = []
    if probe["innerWidth"] != VIEWPORT_WIDTH:
        width.append(f"the viewport is {probe['innerWidth']} px wide, not {VIEWPORT_WIDTH}: the check is void")
    shown, opened = probe["asShown"], probe["opened"]
    if shown["scrollWidth"] > probe["innerWidth"]:
        width.append(f"the document is {shown['scrollWidth']} px wide (viewport {probe['innerWidth']} px)")
    width += [f"{w} sticks out of the {probe['innerWidth']} px viewport" for w in shown["outermost"]]
    if shown["n"] > len(shown["outermost"]):
        width.append(f"({shown['n'] - len(shown['outermost'])} elements inside those stick out too)")
    # what only a reader who opens the collapsed parts meets
    when = f" with its {probe['nClosed']} <details> open"
    if opened["scrollWidth"] > max(shown["scrollWidth"], probe["innerWidth"]):
        width.append(f"the document{when} is {opened['scrollWidth']} px wide (viewport {probe['innerWidth']} px)")
    width += [
        f"{w} sticks out of the {probe['innerWidth']} px viewport{when}"
        for w in opened["outermost"]
        if w not in shown["outermost"]
    ]
    problems["width"] = width

    headers = probe["metricHeaders"]
    definitions = [
        f"th[data-metric={h['metric']!r}] ({h['text']!r}) has no title (definition)"
        for h in headers
        if not (h["title"] or "").strip()
    ]
    if kind in ("dataset", "index") and not headers:
        definitions.append("no headline-metric column header (th[data-metric]) on the page")
    problems["metric_definitions"] = definitions

    if kind != "dataset":
        problems["summary_first"] = []
    elif not probe["hasMain"]:
        problems["summary_first"] = ["the page has no <main> element"]
    elif probe["firstSectionId"] != "summary":
        problems["summary_first"] = [
            f"the first section inside <main> is {probe['firstSection']} (sections: {', '.join(probe['sections'])}), "
            "not section#summary"
        ]
    else:
        problems["summary_first"] = []

    ids = set(probe["ids"])
    if probe["toc"] is None:
        problems["toc"] = ["the page has no table of contents (nav.toc)"]
    elif not probe["toc"]:
        problems["toc"] = ["nav.toc holds no links"]
    else:
        problems["toc"] = _link_problems([("nav.toc a", h) for h in probe["toc"]], path, ids, other_pages)

    problems["links"] = _link_problems([(a["what"], a["href"]) for a in probe["links"]], path, ids, other_pages)

    linked = _link_targets([a["href"] for a in probe["links"]], path)
    index = root / "index.html"
    if kind == "index":
        problems["cross_links"] = [
            f"no link to {report.relative_to(root)}"
            for report in sorted(root.rglob("report.html"))
            if report not in linked
        ]
    else:
        problems["cross_links"] = (
            [] if index in linked else [f"no link back to the index ({os.path.relpath(index, path.parent)})"]
        )

    size = path.stat().st_size
    problems["size"] = [f"{size / 1e6:.2f} MB > {MAX_PAGE_BYTES / 1e6:.0f} MB"] if size > MAX_PAGE_BYTES else []

    if screenshot is not None:
        result.screenshot = _screenshot(driver, screenshot)
    return result
