"""Shared PDF plumbing for the reports: one document style, headings, prose, tables, figures, machine info.

fpdf2's core fonts (Helvetica here) encode latin-1 only, so every string passes through `latin1`, which
maps the typographic characters a report might contain (<=, +/-, arrows, dashes, Greek letters used as
hyperparameter names) to ASCII and replaces anything else it cannot encode. Figures are drawn on a
matplotlib `Figure` with the Agg canvas (no pyplot, no global state, no display) and embedded as PNG
rendered in memory.
"""
from __future__ import annotations

import importlib.metadata
import io
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from numbaplay.sysinfo import cpu_model

FIGURE_DPI = 130
"""Resolution of embedded figures: sharp on paper, small and fast to render."""

_ASCII = {
    "\u2264": "<=", "\u2265": ">=", "\u00b1": "+/-", "\u2192": "->", "\u2190": "<-", "\u21d2": "=>",
    "\u2013": "-", "\u2014": "--", "\u2212": "-", "\u00d7": "x", "\u2026": "...", "\u2018": "'",
    "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2248": "~", "\u2260": "!=", "\u221e": "inf",
    "\u03bb": "lambda", "\u03b5": "eps", "\u03b3": "gamma", "\u03c0": "pi", "\u03c4": "tau",
    "\u00a0": " ", "\u2022": "-", "\u00b5": "u", "\u03bc": "mu",
}


def latin1(text: object) -> str:
    """`text` as a string the core fonts can draw: known symbols spelled in ASCII, the rest replaced."""
    s = "".join(_ASCII.get(ch, ch) for ch in str(text))
    return s.encode("latin-1", "replace").decode("latin-1")


def fmt_value(value: object, digits: int = 6) -> str:
    """A table cell: None/NaN as 'n/a', bools as yes/no, ints exactly, floats to `digits` significant."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value == 0.0:
            return "0"
        return f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v, digits) for v in value)
    return str(value)


class ReportPDF(FPDF):
    """A4 portrait, Helvetica, a small footer with the report's short title and the page number."""

    def __init__(self, short_title: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.short_title = latin1(short_title)
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(self.short_title)
        self.set_creator("numbaplay")

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font("Helvetica", "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.short_title}  -  page {self.page_no()}", align="C")
        self.set_text_color(0)


def new_document(title: str, subtitle: str = "") -> ReportPDF:
    """A document with its first page open and the title (and an optional subtitle line) drawn."""
    pdf = ReportPDF(title)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, latin1(title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if subtitle:
        pdf.set_font("Helvetica", "", 9)
        pdf.set_text_color(80)
        pdf.multi_cell(0, 5, latin1(subtitle), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(0)
    pdf.ln(2)
    return pdf


def heading(pdf: FPDF, text: str) -> None:
    """A section heading; starts a new page when fewer than 30 mm remain."""
    if pdf.get_y() > pdf.page_break_trigger - 30:
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)


def paragraph(pdf: FPDF, text: str, size: float = 10) -> None:
    """A wrapped paragraph."""
    pdf.set_font("Helvetica", "", size)
    pdf.multi_cell(0, size * 0.5, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def bullets(pdf: FPDF, items: Sequence[str], size: float = 10) -> None:
    """One wrapped, hanging-indented item per string."""
    pdf.set_font("Helvetica", "", size)
    indent = 4.0
    for item in items:
        pdf.set_x(pdf.l_margin)
        pdf.cell(indent, size * 0.5, "-")
        pdf.multi_cell(pdf.epw - indent, size * 0.5, latin1(item), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(0.8)


def table(pdf: FPDF, header: Sequence[str], rows: Sequence[Sequence[object]],
          col_widths: Sequence[float] | None = None, size: float = 8) -> None:
    """A bordered table with a bold heading row (repeated across page breaks); cells via `fmt_value`."""
    pdf.set_font("Helvetica", "", size)
    widths = tuple(col_widths) if col_widths is not None else tuple(1 for _ in header)
    with pdf.table(col_widths=widths, first_row_as_headings=True, line_height=size * 0.55,
                   text_align="LEFT", width=pdf.epw) as tbl:
        head = tbl.row()
        for cell in header:
            head.cell(latin1(cell))
        for values in rows:
            row = tbl.row()
            for cell in values:
                row.cell(latin1(cell if isinstance(cell, str) else fmt_value(cell)))
    pdf.ln(2)


def key_value_table(pdf: FPDF, items: Sequence[tuple[str, object]], pairs_per_row: int = 2,
                    size: float = 8) -> None:
    """`items` as (key, value) columns laid out `pairs_per_row` pairs across, to keep long lists short."""
    items = list(items)
    per = max(1, pairs_per_row)
    n_rows = math.ceil(len(items) / per) if items else 0
    rows = []
    for r in range(n_rows):
        row: list[object] = []
        for c in range(per):
            idx = c * n_rows + r  # fill column by column, so keys read top to bottom
            if idx < len(items):
                row.extend([items[idx][0], fmt_value(items[idx][1])])
            else:
                row.extend(["", ""])
        rows.append(row)
    header = ["key", "value"] * per
    table(pdf, header, rows, col_widths=[3, 2] * per, size=size)


def render_png(fig: Figure, dpi: int = FIGURE_DPI) -> bytes:
    """`fig` rendered to PNG bytes by the Agg canvas."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_style():
    """Context manager: the small fonts and light grid the report figures use."""
    return matplotlib.rc_context({"font.size": 7, "axes.titlesize": 8, "legend.fontsize": 6,
                                  "lines.linewidth": 1.0, "axes.grid": True, "grid.alpha": 0.3})


def new_figure(width_in: float = 7.5, height_in: float = 2.6) -> Figure:
    """A matplotlib Figure bound to an Agg canvas (no pyplot), with constrained layout."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def add_figure(pdf: FPDF, fig: Figure, caption: str = "", dpi: int = FIGURE_DPI) -> None:
    """Embed `fig` across the page width, starting a new page when it does not fit; optional caption."""
    png = render_png(fig, dpi=dpi)
    w_in, h_in = fig.get_size_inches()
    width = pdf.epw
    height = width * h_in / w_in
    needed = height + (6 if caption else 0)
    if pdf.get_y() + needed > pdf.page_break_trigger:
        pdf.add_page()
    pdf.image(io.BytesIO(png), x=pdf.l_margin, y=pdf.get_y(), w=width, h=height)
    pdf.set_y(pdf.get_y() + height + 1)
    if caption:
        pdf.set_font("Helvetica", "I", 8)
        pdf.multi_cell(0, 4, latin1(caption), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, object]:
    """The machine and library versions writing the report (no imports of heavy packages)."""
    info: dict[str, object] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    info["cpu"] = cpu_model()
    for package in ("numpy", "numba", "scipy", "matplotlib", "fpdf2"):
        info[package] = _version(package)
    return info


def save(pdf: FPDF, out_pdf: str | Path) -> Path:
    """Write the document to `out_pdf` (through a temporary file, so a failure leaves no half PDF)."""
    from numbaplay.fileio import write_atomic

    return write_atomic(out_pdf, bytes(pdf.output()))
