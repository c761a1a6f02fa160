"""HTML reports of fitted models: figures (:mod:`.figures`) and page assembly (:mod:`.html`)."""

from neurodyn.report.html import ModelResult, build_index, build_report

__all__ = ["ModelResult", "build_index", "build_report"]
