"""Output of analyses: CSV tables, PNG figures and (later) the HTML report of a run."""

from .figures import ANALYSIS_DIR, analysis_path, new_figure, save_figure, write_csv

__all__ = ["ANALYSIS_DIR", "analysis_path", "new_figure", "save_figure", "write_csv"]
