"""The report's markup layer: the jinja2 environment on ``report/templates``, the document
skeleton, tables and cells, and the figure writer.

Templates are autoescaped; a value a template prints is escaped with :func:`html.escape` (see
:func:`_escape`), and markup computed in Python is passed in as :class:`markupsafe.Markup`. Every
figure is embedded as a base64 PNG and the style sheet is inlined, so a page references no
external resource.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.nodes import EvalContext
from markupsafe import Markup

from neurodyn.report import figures as fg
from neurodyn.report.formatting import format_value, numeric

log = logging.getLogger(__name__)


def escaped(value: Any) -> Markup:
    """``str(value)`` escaped for text or an attribute value, as markup."""
    return Markup(html.escape(str(value)))


@pass_eval_context
def _escape(eval_ctx: EvalContext, value: Any) -> Any:
    """Escape what a template prints with :func:`html.escape` (``&quot;``, ``&#x27;``) rather than
    markupsafe's numeric entities, so the pages keep the bytes they had before templates."""
    if eval_ctx.autoescape and not hasattr(value, "__html__"):
        return escaped(value)
    return value


@functools.cache
def environment() -> Environment:
    """The templates of ``neurodyn/report/templates``: autoescaped ``.html``, blocks trimmed."""
    env = Environment(
        loader=PackageLoader("neurodyn.report", "templates"),
        autoescape=select_autoescape(["html"]),
        finalize=_escape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["text"] = format_value
    env.filters["pretty_json"] = json_text
    env.globals["cell"] = table_cell
    return env


def render(template: str, **context: Any) -> Markup:
    """A fragment template rendered, as markup to insert into another (without the newline that
    ends the template file: the including template places its own)."""
    return Markup(environment().get_template(template).render(**context).removesuffix("\n"))


def render_page(template: str, **context: Any) -> str:
    """A whole page rendered (a template extending ``document.html``), as text."""
    return environment().get_template(template).render(**context)


def macros() -> Any:
    """The macros of ``macros.html`` (tables, figures, details), callable from Python."""
    return environment().get_template("macros.html").module


def sections_document(
    title: str, intro: str, sections: Sequence[dict[str, Any]], pages: Sequence[tuple[str, str]] = ()
) -> str:
    """A complete page of titled sections: ``intro`` (text), then per section (``id``, ``heading``
    (text), ``blocks``: tables and figures as markup), after links to the other ``pages``."""
    contents = [(section["id"], section["heading"], []) for section in sections]
    return render_page(
        "sections.html", title=title, intro=intro, sections=list(sections), contents=contents, pages=list(pages)
    )


# ----------------------------------------------------------------------------- tables


def table_cell(value: Any, *, best: bool = False, tag: str = "td", aside: str = "") -> Markup:
    """One cell with the value's text; class ``num`` for numbers, ``best`` (titled) when best;
    ``aside``: a second, smaller text after the value (e.g. the model it belongs to)."""
    classes = []
    if numeric(value) is not None:
        classes.append("num")
    if best:
        classes.append("best")
    return macros().cell(format_value(value), classes, "best" if best else "", tag, aside)


def text_cell(text: str, *, tag: str = "td", css_class: str = "") -> Markup:
    """A cell holding ``text`` as it is (escaped, not formatted)."""
    return macros().cell(str(text), [css_class] if css_class else [], "", tag)


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, css_class: str = "") -> Markup:
    """A table from header labels (text) and rows of ready ``<td>`` cells (markup)."""
    return macros().table(header, [[Markup(cell) for cell in row] for row in rows], css_class=css_class)


def json_text(payload: Any) -> str:
    """``payload`` as indented JSON with sorted keys (numpy values as numbers and lists)."""
    return json.dumps(payload, indent=2, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ----------------------------------------------------------------------------- figures


class FigureWriter:
    """Renders figures to embedded PNGs, optionally also writing ``<figures_dir>/<name>.png``."""

    def __init__(self, figures_dir: Path | None = None) -> None:
        self.figures_dir = Path(figures_dir) if figures_dir is not None else None
        self.written: list[Path] = []
        if self.figures_dir is not None:
            self.figures_dir.mkdir(parents=True, exist_ok=True)

    def embed(self, name: str, make: Callable[[], Any], caption: str) -> Markup:
        """``<figure>`` markup for the figure ``make()`` returns, shown at its CSS size (the PNG is
        rendered at twice that); a note instead if drawing fails."""
        try:
            png = compact_png(fg.figure_png(make()))
        except Exception as exc:  # a broken figure must not lose the whole report
            log.warning("report figure %s could not be drawn: %s: %s", name, type(exc).__name__, exc)
            return macros().figure_failed(name, type(exc).__name__)
        if self.figures_dir is not None:
            path = self.figures_dir / f"{name}.png"
            path.write_bytes(png)
            self.written.append(path)
        width, height = fg.png_css_size(png)
        return macros().figure(name, base64.b64encode(png).decode("ascii"), caption, width, height)


def compact_png(png: bytes, colors: int = 256) -> bytes:
    """The PNG with an adaptive palette of ``colors`` colours when that is smaller (plots use few
    colours; a 2× figure shrinks about threefold), else unchanged. Deterministic."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image.load()
        if image.mode not in ("RGB", "RGBA"):
            return png
        if image.mode == "RGBA":  # figures are drawn on white
            background = Image.new("RGB", image.size, (255, 255, 255))
            background.paste(image, mask=image.getchannel("A"))
            image = background
        paletted = image.quantize(colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
        out = io.BytesIO()
        paletted.save(out, format="PNG", dpi=(fg.PNG_DPI, fg.PNG_DPI))
    smaller = out.getvalue()
    return smaller if len(smaller) < len(png) else png
