"""`numbaplay profile GAME`: where a training iteration's time goes, against what the machine can do."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from numbaplay.cli.common import Progress, fail, guarded

RECORD_FILE = "results/optimisations.jsonl"


def _command_line(game, preset_name, iterations, threads, blas_threads, games, evaluate, json_out,
                  skip=0, checkpoint=None, config_file=None) -> str:
    parts = ["numbaplay", "profile", game]
    if os.environ.get("NUMBAPLAY_BLAS"):  # the kernels' BLAS was chosen by hand: part of the command
        parts.insert(0, f"NUMBAPLAY_BLAS={os.environ['NUMBAPLAY_BLAS']}")
    if preset_name:
        parts += ["--preset", preset_name]
    if config_file:
        parts += ["--config", str(config_file)]
    if checkpoint:
        parts += ["--checkpoint", str(checkpoint)]
    if skip:
        parts += ["--skip", str(skip)]
    parts += ["--iterations", str(iterations)]
    if threads is not None:
        parts += ["--threads", str(threads)]
    if blas_threads != 1:
        parts += ["--blas-threads", str(blas_threads)]
    if games is not None:
        parts += ["--games", str(games)]
    if evaluate is not None:
        parts.append("--eval" if evaluate else "--no-eval")
    if json_out:
        parts.append("--json")
    return " ".join(parts)


def _ms(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.2f}"


def _num(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


PHASE_HEADER = ("phase", "median ms", "min ms", "max ms", "share", "GEMM GFLOP", "GFLOP/s", "floor ms",
                "time/floor", "cpu ms", "GFLOP/cpu-s", "cpu floor ms", "cpu/floor")


def phase_rows(result: dict) -> list[tuple[str, ...]]:
    """The phase table as strings, one row per phase, then the totals.

    Wall-clock columns first (against the best wall-clock rates), then CPU-time columns (against one
    core's rates per CPU second), which on a shared machine still say how close to the hardware it runs.
    """
    rows = []
    for name, s in result["phase_stats"].items():
        share = s.get("share")
        share_txt = "n/a" if share is None else f"{share * 100:.1f}%" + ("*" if name == "evaluation" else "")
        gflop = s.get("gemm_flops")
        rows.append((name, _ms(s["median_s"]), _ms(s["min_s"]), _ms(s["max_s"]), share_txt,
                     "-" if gflop is None else f"{gflop / 1e9:.3f}", _num(s.get("gemm_gflops_per_s"), ".1f"),
                     _ms(s.get("floor_s")), _num(s.get("floor_ratio"), ".1f"), _ms(s["cpu_median_s"]),
                     _num(s.get("gemm_gflops_per_cpu_s"), ".1f"), _ms(s.get("floor_cpu_s")),
                     _num(s.get("floor_cpu_ratio"), ".1f")))
    it = result["iteration"]
    prof, prof_cpu = result["profiled_iteration_s"], result["profiled_iteration_cpu_s"]
    rows.append(("profiled sum", _ms(prof), "", "", "100%", "", "", _ms(result["floor_s"]),
                 _num(prof / result["floor_s"], ".1f"), _ms(prof_cpu), "", _ms(result["floor_cpu_s"]),
                 _num(prof_cpu / result["floor_cpu_s"], ".1f")))
    rows.append(("iteration (fused)", _ms(it["median_s"]), _ms(it["min_s"]), _ms(it["max_s"]), "", "", "",
                 _ms(result["floor_s"]), _num(result["floor_ratio"], ".1f"), _ms(result["iteration_cpu_s"]),
                 "", _ms(result["floor_cpu_s"]), _num(result["floor_cpu_ratio"], ".1f")))
    return rows


def _one_shard_note(result: dict) -> str:
    """How many minibatch steps ran as one shard on one thread, when any did (records before this field
    was added have none)."""
    k = result.get("update_one_shard_steps_per_iter")
    if not k:
        return ""
    from numbaplay.nn.rows import SHARD_MIN_ROWS

    return (f" ({k:.0f} of them on one thread: minibatches under {2 * SHARD_MIN_ROWS} rows are not "
            "split)")


def summary_lines(result: dict) -> list[str]:
    """What follows the phase table: work, throughput, fused kernels, floor, machine, compile time, load."""
    m = result["machine"]
    out = [
        f"per iteration: {result['transitions_per_iter']:.0f} transitions, "
        f"{result['rollout_rows_per_iter']:.0f} rollout rows in {result['forward_calls_per_iter']:.0f} "
        f"forward calls, {result['update_steps_per_iter']:.0f} minibatch steps" + _one_shard_note(result),
        f"throughput: {result['transitions_per_s']:.0f} transitions/s, {result['games_per_s']:.0f} games/s",
        f"fused kernels: rollout {_ms(result['fused']['rollout']['median_s'])} ms, update "
        f"{_ms(result['fused']['update']['median_s'])} ms; profiling loops "
        f"{'identical' if result['identical_to_fused'] else 'DIFFER'} to them, overhead "
        f"{_ms(result['profiling_overhead_s'])} ms",
        f"floor: {_ms(result['floor_s'])} ms at the best wall-clock rates (iteration / floor = "
        f"{_num(result['floor_ratio'], '.1f')}); {_ms(result['floor_training_threads_s'])} ms at "
        f"{result['blas_threads']} BLAS thread(s) "
        f"(ratio {_num(result['floor_training_threads_ratio'], '.1f')}); "
        f"{_ms(result['floor_cpu_s'])} ms of one core's CPU time (iteration CPU time / floor = "
        f"{_num(result['floor_cpu_ratio'], '.1f')})",
        f"machine: {m['cpu']}, {m['cores']} cores; sgemm "
        + ", ".join(f"{v:.1f} GFLOP/s at {k} thread(s)" for k, v in m["gemm_gflops"].items())
        + f", {m['gemm_gflops_per_cpu_s']['1']:.1f} GFLOP per CPU second of one core; bandwidth "
        + ", ".join(f"{v:.1f} GB/s at {k}" for k, v in m["bandwidth_gbs"].items())
        + f", {m['bandwidth_gbs_per_cpu_s']['1']:.1f} GB per CPU second"
        + f" ({'cached' if result['machine_cached'] else 'measured now'}, {m['measured_at']}, "
        + f"load then: {m['uptime_before'].split('load average:')[-1].strip()})",
        f"JIT compile (warm-up minus steady iteration): {result['jit_compile_s']:.2f} s"
        + (" (update kernel compiled by a second process)" if result.get("jit_update_in_background") else "")
        + f"; trainer set-up {result['setup_s']:.2f} s",
        f"load at start: {result['uptime_start']}",
        f"load at end:   {result['uptime_end']}",
    ]
    if "state_start" in result:  # reports written before --skip existed lack it
        st, en = result["state_start"], result["state_end"]
        counts = ", ".join(f"{k} {st['subnormals'][k]}/{en['subnormals'][k]}" for k in st["subnormals"])
        out.insert(5, f"measured from iteration {st['iteration']} (Adam step {st['adam_t']}, pool "
                      f"{st['pool_size']}); subnormal floats of {result['n_params']} at start / end: "
                      f"{counts}")
    out += [f"WARNING: {w}" for w in result.get("stale_kernel_caches", [])]
    if "evaluation" in result["phase_stats"]:
        out.append("* evaluation share is amortised over eval_every iterations ("
                   + result["phase_stats"]["evaluation"]["share_note"] + ")")
    out.append("GEMM GFLOP counts are exact; floor = GEMM FLOPs / sgemm peak + compulsory bytes / bandwidth "
               "(numbaplay/profile/flops.py)")
    return out


def format_report(result: dict) -> str:
    """The human-readable report: settings, phase table, then `summary_lines`."""
    cfg = result["config"]
    rows = phase_rows(result)
    widths = [max(len(str(r[i])) for r in [PHASE_HEADER, *rows]) for i in range(len(PHASE_HEADER))]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in
                         enumerate(zip(cells, widths, strict=True)))

    eff = ", ".join(f"{k} {v}" for k, v in result["blas_threads_in_effect"].items())
    head = [
        f"profile {result['game']} (preset {result['preset']}): {result['iterations']} iterations after "
        f"{result['warmup']} warm-up; {cfg['games_per_iter']} games, {cfg['arch']} H={cfg['hidden']} "
        f"L={cfg['depth']}, batch {cfg['batch_size']} x {cfg['epochs']} epochs",
        f"threads: numba {result['numba_threads']}, BLAS {result['blas_threads']} (in effect: {eff})",
    ]
    if result.get("kernel_blas"):
        head.append(f"kernel BLAS: {result['kernel_blas']['name']} ({result['kernel_blas']['version']})")
    return "\n".join([*head, "", line(PHASE_HEADER), *(line(r) for r in rows), "", *summary_lines(result)])


def git_state() -> dict:
    """Commit and modified tracked files of the working tree, so a record says what code it measured."""
    from numbaplay.sysinfo import git_state as checkout_state

    state = checkout_state(".", short=True)
    return {"commit": state["commit"] or "", "modified": state["modified"] or []}


def record_entry(result: dict, step: str, command: str) -> dict:
    """One line of the optimisation record (results/optimisations.jsonl)."""
    return {
        "step": step, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "command": command,
        "preset": result["preset"], "game": result["game"], "threads": result["numba_threads"],
        "blas_threads": result["blas_threads"], "blas_threads_in_effect": result["blas_threads_in_effect"],
        "iterations": result["iterations"], "skip": result["skip"],
        "start_iteration": result["state_start"]["iteration"], "iteration_s": result["iteration_s"],
        "iteration_min_s": result["iteration"]["min_s"], "iteration_max_s": result["iteration"]["max_s"],
        "phases": result["phases"], "profiled_iteration_s": result["profiled_iteration_s"],
        "transitions_per_iter": result["transitions_per_iter"], "games_per_iter": result["games_per_iter"],
        "transitions_per_s": result["transitions_per_s"], "floor_s": result["floor_s"],
        "floor_ratio": result["floor_ratio"], "floor_cpu_s": result["floor_cpu_s"],
        "floor_cpu_ratio": result["floor_cpu_ratio"], "identical_to_fused": result["identical_to_fused"],
        "jit_compile_s": result["jit_compile_s"], "uptime": result["uptime_start"],
        "uptime_end": result["uptime_end"], "iteration_cpu_s": result["iteration_cpu_s"],
        "stale_kernel_caches": result["stale_kernel_caches"], "git": git_state(),
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"), "kernel_blas": result.get("kernel_blas"),
    }


def read_records(path: Path) -> list[dict]:
    """Every entry of a record file, in order; a missing file is no entries."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: a record is not a JSON object")
    return records


def change_colour(prev: dict, rec: dict) -> str:
    """Green when every timed iteration of `rec` was faster than every one of `prev`, red when every one was
    slower, grey when their min-max ranges overlap (or a record lacks them): the change is then within the
    two runs' own spread."""
    lo, hi = rec.get("iteration_min_s"), rec.get("iteration_max_s")
    plo, phi = prev.get("iteration_min_s"), prev.get("iteration_max_s")
    if None in (lo, hi, plo, phi):
        return "#999999"
    if hi < plo:
        return "#55a868"
    if lo > phi:
        return "#c44e52"
    return "#999999"


def waterfall_figure(records: list[dict], title: str):
    """Iteration time after each recorded step: the first bar whole, then each step's measured change
    (coloured by `change_colour`)."""
    from numbaplay.report.pdf import figure_style, new_figure

    with figure_style():
        fig = new_figure(7.5, 3.0)
        ax = fig.add_subplot(1, 1, 1)
        prev = 0.0
        labels = []
        for i, r in enumerate(records):
            value = r["iteration_s"] * 1e3
            if i == 0:
                ax.bar(i, value, width=0.6, color="#4c72b0")
                text = f"{value:.1f} ms"
            else:
                delta = value - prev
                ax.bar(i, delta, bottom=prev, width=0.6, color=change_colour(records[i - 1], r))
                ax.plot([i - 0.7, i - 0.3], [prev, prev], color="0.4", linewidth=0.6)
                text = f"{value:.1f} ms ({delta:+.1f})"
            ax.annotate(text, (i, max(value, prev)), xytext=(0, 2), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6)
            labels.append(r["step"])
            prev = value
        ax.set_ylim(0, 1.15 * max(r["iteration_s"] * 1e3 for r in records))
        ax.set_xticks(range(len(records)), labels, rotation=20, ha="right")
        ax.set_ylabel("iteration time (ms, median)")
        ax.set_title(title)
    return fig


def write_pdf(result: dict, records: list[dict], record_file: Path, out: Path) -> Path:
    from numbaplay.report import pdf as rp

    doc = rp.new_document(f"numbaplay profile: {result['game']} ({result['preset']})",
                          f"{result['iterations']} iterations after {result['warmup']} warm-up; "
                          f"load at start: {result['uptime_start']}")
    rp.heading(doc, "Iteration time after each recorded optimisation step")
    # One series per (game, preset, stage): a step is compared only with steps measured at the same point.
    mine = [r for r in records if r.get("preset") == result["preset"] and r.get("game") == result["game"]
            and r.get("skip", 0) == result["skip"]]
    if mine:
        rp.add_figure(doc, waterfall_figure(mine, f"{result['game']} {result['preset']}: recorded steps"),
                      caption=f"Median iteration time of each run recorded in {record_file}, each measured on "
                              "the machine as it was then; green: every timed iteration faster than every one "
                              "of the step before, red: every one slower, grey: the two runs' min-max ranges "
                              "overlap, so the change is within their own spread.")
    else:
        rp.paragraph(doc, f"No step for preset {result['preset']} (skip {result['skip']}) is recorded in "
                          f"{record_file} yet "
                          "(numbaplay profile ... --record STEP adds one).")
    rp.heading(doc, "Phases of this run")
    rp.table(doc, PHASE_HEADER, phase_rows(result),
             col_widths=[3.2, 1.3, 1.1, 1.1, 1.0, 1.2, 1.1, 1.1, 1.1, 1.1, 1.2, 1.2, 1.1], size=6)
    rp.bullets(doc, summary_lines(result), size=7)
    rp.heading(doc, "Machine")
    rp.key_value_table(doc, list(rp.machine_info().items()))
    return rp.save(doc, out)


@click.command()
@click.argument("game")
@click.option("--preset", "preset_name", default=None, help="Named configuration (default: the game's own).")
@click.option("--config", "config_file", default=None,
              help="TOML or JSON file of config keys to override, as `train` takes it (update_shards, say).")
@click.option("--iterations", type=click.IntRange(1), default=5, show_default=True,
              help="Measured iterations, after one warm-up iteration.")
@click.option("--threads", type=int, default=None, help="Numba threads (default: all).")
@click.option("--blas-threads", type=click.IntRange(1), default=1, show_default=True,
              help="BLAS threads, as training uses them.")
@click.option("--games", type=click.IntRange(2), default=None, help="Override games per iteration (even).")
@click.option("--eval/--no-eval", "evaluate", default=None,
              help="Time one evaluation per iteration (default: tictactoe yes, connect4 no).")
@click.option("--json", "json_out", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--pdf", "pdf_out", default=None,
              help="Also write a PDF: recorded-steps waterfall and phase table.")
@click.option("--force", is_flag=True, help="Overwrite the --pdf file if it exists.")
@click.option("--record", "step", default=None,
              help="Append this run to the optimisation record under this step name.")
@click.option("--record-file", default=RECORD_FILE, show_default=True,
              help="The optimisation record (JSON lines).")
@click.option("--remeasure", is_flag=True, help="Measure the machine's peak and bandwidth again (cached).")
@click.option("--skip", type=click.IntRange(0), default=0, show_default=True,
              help="Untimed training iterations first, to profile a later stage of training.")
@click.option("--checkpoint", "checkpoint_file", default=None,
              help="Start from this checkpoint and its config (--preset is then ignored).")
@guarded
def profile(game, preset_name, config_file, iterations, threads, blas_threads, games, evaluate, json_out, pdf_out,
            force, step, record_file, remeasure, skip, checkpoint_file):
    """Profile training iterations of GAME: time per phase, GEMM FLOPs, and the machine's floor."""
    from numbaplay.cli.train import build_config, set_threads
    from numbaplay.fileio import check_output_file

    if pdf_out:  # bad output paths fail before the profile runs, not after
        check_output_file(pdf_out, force, "--pdf")
    rec_path = Path(record_file)
    if step or pdf_out:
        try:
            read_records(rec_path)
        except ValueError:
            fail(f"{rec_path} is not a JSON-lines record file")
        except OSError as exc:
            fail(f"cannot read {rec_path}: {exc.strerror}")

    if checkpoint_file and config_file:
        fail("--config and --checkpoint both give the configuration; choose one")
    set_threads(threads)
    ck = None
    if checkpoint_file:
        from numbaplay import checkpoint
        from numbaplay.config import from_dict

        ck = checkpoint.load(checkpoint_file, game=game)
        if ck["meta"].get("config") is None:
            fail(f"{str(checkpoint_file)!r} holds no training configuration to profile with")
        base = checkpoint.network_config(ck["meta"], ck["spec_obj"])
        if games is not None:
            base["games_per_iter"] = games
        cfg, name = from_dict(base), f"checkpoint {Path(checkpoint_file).name}"
    else:
        cfg, name = build_config(game, preset_name, config_file, {"games_per_iter": games})
        if config_file:  # its own series in the optimisation record, apart from the plain preset's
            name = f"{name} + {Path(config_file).name}"
    from numbaplay.nn.blas import kernel_blas_info
    from numbaplay.profile.machine import machine_peaks
    from numbaplay.profile.phases import profile_training

    def say(text):
        click.echo(f"measuring the machine once (cached afterwards): {text}", err=True)

    machine, cached = machine_peaks(refresh=remeasure, on_progress=say)
    bar = Progress(skip + iterations + 1, label="profile")
    result = profile_training(cfg, preset=name, iterations=iterations, evaluate=evaluate,
                              blas_threads=blas_threads, machine=machine, skip=skip, checkpoint=ck,
                              on_iteration=lambda done, total: bar.update(done))
    bar.close()
    result["machine_cached"] = cached
    result["kernel_blas"] = kernel_blas_info()
    command = _command_line(game, preset_name, iterations, threads, blas_threads, games, evaluate, json_out,
                            skip, checkpoint_file, config_file)
    result["command"] = command
    for warning in result["stale_kernel_caches"]:
        click.echo(f"numbaplay: warning: {warning}", err=True)
    if not result["identical_to_fused"]:
        click.echo("numbaplay: warning: the profiling loops did not reproduce the fused kernels bit for bit; "
                   "the phase split may not describe them", err=True)
    if step:
        rec_path.parent.mkdir(parents=True, exist_ok=True)
        with open(rec_path, "a") as fh:
            fh.write(json.dumps(record_entry(result, step, command)) + "\n")
        click.echo(f"recorded step {step!r} in {rec_path}", err=True)
    if pdf_out:  # the record file was checked before the profile ran
        write_pdf(result, read_records(rec_path), rec_path, Path(pdf_out))
        click.echo(f"wrote {pdf_out}", err=True)
    if json_out:
        click.echo(json.dumps(result, indent=1))
    else:
        click.echo(format_report(result))
