"""Output of analyses: CSV tables, PNG figures and the HTML report of runs."""

from .figures import ANALYSIS_DIR, analysis_path, new_figure, save_figure, write_csv
from .html import build_report

__all__ = ["ANALYSIS_DIR", "analysis_path", "build_report", "new_figure", "save_figure",
           "write_csv"]
