"""HTML reports of fitted models: figures (:mod:`.figures`), the pages (:mod:`.dataset_page`,
:mod:`.index_page`) rendered from jinja2 templates in ``templates/`` (:mod:`.page`)."""

from neurodyn.report.dataset_page import build_report
from neurodyn.report.index_page import build_index
from neurodyn.report.results import ModelResult

__all__ = ["ModelResult", "build_index", "build_report"]
