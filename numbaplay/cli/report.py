"""`numbaplay report RUN_DIR [RUN_DIR...]`: a training report for one run, a study report for several."""
from __future__ import annotations

import os
from pathlib import Path

import click

from numbaplay.cli.common import guarded


def default_out(run_dirs: tuple[Path, ...]) -> Path:
    """RUN_DIR/report.pdf for one run; study_report.pdf in the runs' common parent folder for several."""
    if len(run_dirs) == 1:
        return run_dirs[0] / "report.pdf"
    parents = [str(Path(d).resolve().parent) for d in run_dirs]
    return Path(os.path.commonpath(parents)) / "study_report.pdf"


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN_DIR...", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="PDF to write (default: RUN_DIR/report.pdf for one run, study_report.pdf in the runs' "
                   "common parent folder for several).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("--dpi", type=click.IntRange(30, 600), default=130, show_default=True,
              help="Resolution of the embedded figures.")
@guarded
def report(run_dirs, out, force, dpi):
    """Write a PDF report: one RUN_DIR gives a training report (a sweep folder: a sweep report), several
    (seeds of one config) a study."""
    from numbaplay.fileio import check_output_file

    out = check_output_file(out or default_out(run_dirs), force)
    from numbaplay.report.sweep import is_sweep

    if len(run_dirs) == 1 and is_sweep(run_dirs[0]):
        from numbaplay.report.sweep import write_sweep_report

        path = write_sweep_report(run_dirs[0], out, dpi=dpi)
        click.echo(f"sweep report: {path}")
    elif len(run_dirs) == 1:
        from numbaplay.report.training import write_training_report

        path = write_training_report(run_dirs[0], out, dpi=dpi)
        click.echo(f"training report: {path}")
    else:
        from numbaplay.report.study import write_study_report

        path = write_study_report(list(run_dirs), out, dpi=dpi)
        click.echo(f"study report ({len(run_dirs)} runs): {path}")
