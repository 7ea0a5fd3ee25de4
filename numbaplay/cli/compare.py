"""`numbaplay compare-c`: the Numba kernels against the C reference, tensor by tensor, then on speed.

A thin shell over `numbaplay.cref.compare`: builds the C binary if needed, runs the parity cases, prints
one line per tensor (OK / NOT OK with the largest errors and the tolerance), times whole training
iterations of both implementations, and exits 1 on any parity failure (2 on a usage or build error).
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from numbaplay.cli.common import Progress, guarded

GAME_CHOICES = ("tictactoe", "connect4", "all")


def _bar_callback(state: dict):
    """An on_progress(done, total, label) that keeps one Progress bar per label."""

    def on_progress(done, total, label):
        bar = state.get(label)
        if bar is None:
            if state.get("_current") is not None:
                state["_current"].close()
            bar = state[label] = Progress(total, label=label)
            state["_current"] = bar
        bar.update(done, force=done in (0, total))

    return on_progress


def _close(state: dict) -> None:
    if state.get("_current") is not None:
        state["_current"].close()
    state.clear()


def _fmt(x) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "-"
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def print_parity(rows) -> None:
    check = None
    for r in rows:
        if r.check != check:
            check = r.check
            click.echo(f"\n== {check}")
            click.echo(f"  {'':6} {'tensor':34} {'kind':6} {'size':>8} {'max abs':>9} {'max rel':>9} "
                       f"{'ulp':>4}  tolerance")
        status = "info" if r.kind == "info" else ("OK" if r.ok else "NOT OK")
        ulp = "" if r.max_ulp is None else f"{r.max_ulp:g}"
        line = (f"  {status:6} {r.tensor:34} {r.kind:6} {r.size:>8} {_fmt(r.max_abs):>9} "
                f"{_fmt(r.max_rel):>9} {ulp:>4}  {r.tolerance()}")
        if r.note:
            line += f"  [{r.note}]"
        click.echo(line)


def print_timing(timing, machine=None) -> None:
    if timing and machine and machine.get("numba_blas"):
        click.echo(f"\n(BLAS: Numba kernels on {machine['numba_blas']}; C reference on {machine.get('c_blas', '?')}. "
                   "NUMBAPLAY_BLAS=openblas runs Numba on OpenBLAS too.)")
    for t in timing:
        nb, c = t["numba"], t["c"]
        click.echo(f"\n== speed: {t['preset']} ({len(nb.phases['iteration'])} timed iterations after "
                   f"{nb.warmup} warm-up; Numba threads {nb.threads}, C threads {c.threads}, BLAS 1 thread; "
                   f"transitions per iteration Numba {_median_int(nb.transitions)}, "
                   f"C {_median_int(c.transitions)})")
        click.echo(f"  {'phase':10} {'Numba median s':>15} {'(min - max)':>21} {'C median s':>12} "
                   f"{'(min - max)':>21} {'Numba / C':>10}")
        for r in t["rows"]:
            nb_span = _span(r["numba_min_s"], r["numba_max_s"])
            c_span = _span(r["c_min_s"], r["c_max_s"])
            click.echo(f"  {r['phase']:10} {r['numba_median_s']:>15.4g} {nb_span:>21} "
                       f"{r['c_median_s']:>12.4g} {c_span:>21} {r['ratio_numba_over_c']:>10.2f}")


def _span(lo: float, hi: float) -> str:
    return f"({lo:.4g} - {hi:.4g})"


def _median_int(values) -> int:
    values = sorted(values)
    return values[len(values) // 2] if values else 0


def print_learning(result: dict, keys) -> None:
    secs = result["seconds"]
    click.echo(f"\n== learning: {result['preset']} for {result['iterations']} iterations from the same "
               f"initial parameters (Numba {secs['numba']:.1f} s, C {secs['c']:.1f} s)")
    if result["note"]:
        click.echo(f"  note: {result['note']}")
    click.echo(f"  {'metric':26} {'Numba':>12} {'C':>12}")
    for k in keys:
        click.echo(f"  {k:26} {_fmt(result['eval']['numba'][k]):>12} {_fmt(result['eval']['c'][k]):>12}")


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value))


@click.command("compare-c")
@click.option("--game", type=click.Choice(GAME_CHOICES), default="all", show_default=True,
              help="Game(s) to compare.")
@click.option("--preset", "preset_name", default=None,
              help="Preset the cases and timings derive from (default: ttt-seed / c4-seed).")
@click.option("--size", type=click.Choice(("small", "full", "both")), default="both", show_default=True,
              help="Parity networks: small (H 16, L 3, 32 games), the preset's full size, or both; "
                   "timing uses the full size unless only small is asked for.")
@click.option("--iterations", type=click.IntRange(0), default=5, show_default=True,
              help="Timed training iterations per implementation (median reported; 0 skips timing).")
@click.option("--warmup", type=click.IntRange(0), default=1, show_default=True,
              help="Untimed iterations before the timed ones.")
@click.option("--threads", type=int, default=None,
              help="Numba threads and C OpenMP threads (default: Numba's current count); BLAS uses 1.")
@click.option("--replays", type=click.IntRange(1), default=10_000, show_default=True,
              help="Random complete games replayed by both implementations per game.")
@click.option("--dump", "dump_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for the cases and both outputs as .npz with the (name, shape, offset) table "
                   "(existing files are never overwritten; replays: the moves only).")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False), default=None,
              help="Write a PDF report (parity table, per-phase timing chart, machine) here.")
@click.option("--force", is_flag=True, help="Overwrite the --pdf file if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of tables.")
@click.option("--learning", is_flag=True,
              help="Also train both implementations from the same start and compare their exact "
                   "Tic-Tac-Toe evaluations (preset: --preset if a Tic-Tac-Toe one, else tictactoe).")
@click.option("--learning-iterations", type=click.IntRange(1), default=None,
              help="Iterations of the learning check (default: the preset's configured iterations).")
@guarded
def compare_c(game, preset_name, size, iterations, warmup, threads, replays, dump_dir, pdf_path, force, as_json,
              learning, learning_iterations):
    """Check the Numba kernels against the C reference (SPEC section 8) and race them.

    Integer outputs must agree exactly, elementwise kernels within 4 ulp, and tensors that pass through
    BLAS within 1e-4 * max|C| + 1e-7 per tensor. Exit status 1 on any parity failure.
    """
    from numbaplay.cli.train import set_threads
    from numbaplay.cref import compare as cmp
    from numbaplay.cref.build import build_binary
    from numbaplay.presets import PRESETS

    set_threads(threads)
    if pdf_path:  # a bad --pdf fails before the comparison runs, not after
        from numbaplay.fileio import check_output_file

        check_output_file(pdf_path, force, "--pdf")
    if preset_name is not None and preset_name not in PRESETS:
        raise click.BadParameter(f"unknown preset {preset_name!r}; choose one of {', '.join(PRESETS)}",
                                 param_hint="--preset")
    if preset_name is not None:
        preset_game = PRESETS[preset_name]["game"]
        if game not in ("all", preset_game):
            raise click.BadParameter(f"preset {preset_name!r} is for {preset_game}, not {game}",
                                     param_hint="--preset")
        games = [preset_game]
    else:
        games = ["tictactoe", "connect4"] if game == "all" else [game]
    presets = {g: preset_name or cmp.SEED_PRESETS[g] for g in games}
    sizes = ["small", "full"] if size == "both" else [size]
    cases = [(g, arch, sz) for g in games for arch in cmp.ARCHES for sz in sizes]
    labels = [f"{g} {arch} {sz}" for g, arch, sz in cases]
    dump = Path(dump_dir) if dump_dir else None
    if dump is not None:
        cmp.check_dump_dir(dump, cmp.dump_names(labels, games))
    learn_preset = "tictactoe"
    if preset_name is not None and PRESETS[preset_name]["game"] == "tictactoe":
        learn_preset = preset_name

    build_binary()
    bars: dict = {}
    progress = _bar_callback(bars)
    summary = cmp.Summary(machine=cmp.machine_info(threads))
    for i, ((g, arch, sz), label) in enumerate(zip(cases, labels, strict=True)):
        progress(i, len(cases), "parity")
        cfg = cmp.parity_config(presets[g], arch, sz)
        kern = cmp.kernel_parity(cfg, label, rows=cmp.SMALL_ROWS if sz == "small" else None)
        train0 = cmp.train0_parity(cfg, label, threads=threads, judge_update=(sz == "small"))
        summary.parity += [kern, train0]
        if dump is not None:
            cmp.write_dump(dump, label, "kernels", kern)
            cmp.write_dump(dump, label, "train0", train0)
    progress(len(cases), len(cases), "parity")
    for g in games:
        rep = cmp.replay_parity(g, replays, on_progress=progress)
        summary.parity.append(rep)
        if dump is not None:
            cmp.write_dump(dump, g, "replays", rep)
    if iterations > 0:
        timing_size = "small" if sizes == ["small"] else "full"
        for g in games:
            cfg = cmp.parity_config(presets[g], PRESETS[presets[g]]["arch"], timing_size)
            name = presets[g] + (" (small)" if timing_size == "small" else "")
            summary.timing.append(cmp.time_preset(cfg, name, warmup=warmup, iterations=iterations,
                                                  threads=threads, on_progress=progress))
        summary.machine["load_average_after_timing"] = cmp.machine_info(threads).get("load_average")
    if learning:
        from numbaplay.presets import preset

        cfg = preset(learn_preset)
        if learning_iterations is not None:
            cfg = cfg.replace(iterations=learning_iterations)
        summary.learning = cmp.learning_check(cfg, learn_preset, threads=threads, on_progress=progress)
    _close(bars)

    if as_json:
        click.echo(json.dumps(summary.to_dict(), indent=1, default=_json_default))
    else:
        print_parity(summary.rows)
        print_timing(summary.timing, summary.machine)
        if summary.learning is not None:
            print_learning(summary.learning, cmp.LEARNING_KEYS)
        click.echo("\n== summary by check")
        for c in cmp.check_summary(summary.rows):
            status = "OK" if c["not_ok"] == 0 else "NOT OK"
            click.echo(f"  {status:6} {c['check']:42} {c['judged']:>4} judged, "
                       f"worst blas max rel {_fmt(c['worst_blas_rel'])}, worst ulp {_fmt(c['worst_ulp'])}")
        judged = [r for r in summary.rows if r.kind != "info"]
        failed = [r for r in judged if not r.ok]
        click.echo(f"\nparity: {len(judged)} tensors judged, {len(failed)} NOT OK"
                   + (": " + ", ".join(f"{r.check}: {r.tensor}" for r in failed) if failed else ""))
    if pdf_path:
        cmp.write_pdf(summary, Path(pdf_path))
        if not as_json:
            click.echo(f"report: {pdf_path}")
    if not summary.ok:
        sys.exit(1)
