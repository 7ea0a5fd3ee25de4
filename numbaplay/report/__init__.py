"""Reports built from run data: fpdf2 PDFs whose every sentence is computed from the logged numbers.

- `write_training_report(run_dir, out_pdf)`: one run folder (config.json, metrics.jsonl, summary.json).
- `write_study_report(run_dirs, out_pdf)`: several seeds of one configuration (SPEC section 7).
- `stats`: Student-t, Clopper-Pearson and median-with-count summaries across seeds.
"""
from numbaplay.report.study import write_study_report
from numbaplay.report.training import (
           RunData,
           RunDataError,
           load_run,
           training_sentences,
           write_training_report,
)

__all__ = ["RunData", "RunDataError", "load_run", "training_sentences", "write_study_report",
           "write_training_report"]
