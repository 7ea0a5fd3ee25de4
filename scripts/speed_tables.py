"""Markdown tables of the speed results, generated from the JSON files under results/bench/.

Every number in `results/speed.md` comes from here: nothing is typed by hand.

    python scripts/speed_tables.py --markdown > results/speed.md

`--root DIR` reads a pass that `scripts/speed_pass.py --root DIR` wrote instead (another machine's), and
sets the figures of the pass under `results/` beside its own:

    python scripts/speed_tables.py --root results/machines/amd-epyc-zen4 --markdown \
        > results/machines/amd-epyc-zen4/speed.md
"""
import json
import sys
from dataclasses import asdict
from pathlib import Path

from numbaplay.cli.profile import PHASE_HEADER, phase_rows, read_records
from numbaplay.config import TrainConfig
from numbaplay.presets import PRESETS

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
BENCH = RESULTS / "bench"
# The PyTorch figures quoted in issue 5 (measured by its author on this kind of machine, 2 threads).
ISSUE_TORCH_S = {"ttt-seed": 0.635, "c4-seed": 4.9}
ACCEPTANCE = "ttt_optimal_session11"  # the latest Tic-Tac-Toe acceptance run
# `train connect4`'s start-up with the preset it has now (1,024 games an iteration; startup_connect4.json
# and its rerun measured the preset of 512 games).
C4_STARTUP = "startup_connect4_1024games.json"
# The pass the tables set beside this one: its benchmark files, start-up file and acceptance run. For
# results/speed.md, the files the previous results/speed.md was generated from.
PREVIOUS = {"bench": BENCH / "previous_pass", "startup": BENCH / "previous_pass" / "startup.json",
            "acceptance": RESULTS / "ttt_optimal_session10", "what": "the previous pass",
            "where": "`results/bench/previous_pass/`, its acceptance run under `results/ttt_optimal_session10/`"}
# Set by --root: the pass.json that scripts/speed_pass.py wrote (commands, machine), else None.
PASS = None
# Alternating A/B rounds of the code changes made between the previous pass and this one (same machine state).
BETWEEN_PASSES_AB = ("ab_session10_inference_kernels.json", "ab_session10_serial_paths.json", "ab_session11_jobs.json")
ISSUE_PEAK_GFLOPS = 175.0  # the issue: "about 150-175 GFLOP/s on both cores"; the upper end, the harder test


def load(name: str) -> dict:
    return json.loads((BENCH / name).read_text())


def md_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def ms(seconds) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.1f}"


def profile_section(name: str, title: str) -> str:
    r = load(name)
    lines = [f"### {title}", "", f"`{r['command']}`  ", f"load at start: `{r['uptime_start']}`; at end: "
             f"`{r['uptime_end']}`", "", md_table(PHASE_HEADER, phase_rows(r)), ""]
    fused = r["fused"]
    lines.append(f"Per iteration: {r['transitions_per_iter']:.0f} transitions, {r['update_steps_per_iter']:.0f} "
                 f"minibatch steps; fused rollout {ms(fused['rollout']['median_s'])} ms, fused update "
                 f"{ms(fused['update']['median_s'])} ms; profiling loops "
                 f"{'bit-identical to' if r['identical_to_fused'] else 'DIFFERENT from'} the fused kernels. "
                 f"Numba threads {r['numba_threads']}, BLAS threads {r['blas_threads']}. Machine rates used for "
                 f"the floors: sgemm " + ", ".join(f"{v:.0f} GFLOP/s at {k} thread(s)"
                                                    for k, v in r["machine"]["gemm_gflops"].items())
                 + ", copy bandwidth " + ", ".join(f"{v:.1f} GB/s at {k}"
                                                   for k, v in r["machine"]["bandwidth_gbs"].items())
                 + f" (measured {r['machine']['measured_at']}).")
    return "\n".join(lines)


def torch_section(name: str = "torch_vs_numba.json") -> str:
    r = load(name)
    rows = []
    for p in r["presets"]:
        nb, tc = p["numbaplay"], p["torch"]
        pr = p.get("paired_ratio")
        interval = "n/a" if pr is None else f"{pr['low']:.2f}x to {pr['high']:.2f}x"
        rows.append((p["preset"], ms(nb["iteration_s"]), ms(tc["iteration_s"]),
                     f"{p['ratio_torch_over_numbaplay']:.2f}x", interval, f">= {p['target_ratio']}x",
                     f"{ms(nb['phases']['rollout'])} / {ms(tc['phases']['rollout'])}",
                     f"{ms(nb['phases']['update'])} / {ms(tc['phases']['update'])}",
                     f"{nb['transitions_per_iter']:.0f} / {tc['transitions_per_iter']:.0f}"))
    head = ("preset", "numbaplay ms/iter", "PyTorch ms/iter", "PyTorch / numbaplay",
            "95% interval (paired rounds)", "goal",
            "rollout ms nb / torch", "update ms nb / torch", "transitions nb / torch")
    t = r["torch"]
    return "\n".join([
        f"`{r['command']}`  ", f"PyTorch {t['torch_version']} ({t['torch_cpu_capability']}, MKL {t['torch_mkl']}), "
        f"{r['threads']} threads each side, {r['rounds']} alternating rounds, numbaplay timed by "
        f"`{r.get('numbaplay_timer', 'profile')}`; load before `{r['uptime_before']}`, after `{r['uptime_after']}`.",
        "", md_table(head, rows)])


def _blas_names(r) -> str:
    m = r["machine"]
    return f"Numba kernels on {m.get('numba_blas', 'openblas (SciPy)')}, C reference on {m.get('c_blas', '?')}"


def parity_note() -> str:
    """Whether the pass's tensor-by-tensor check against the C reference passed (a pass that ran it)."""
    if PASS is None or not (BENCH / "c_vs_numba_parity.json").exists():
        return ""
    r = load("c_vs_numba_parity.json")
    step = next((s for s in PASS["steps"] if "c_vs_numba_parity.json" in s["command"]), None)
    bad = [f"{p['check']}: {p['tensor']}" for p in r["parity"] if not p["ok"]]
    return (f"Parity on this machine (`{step['command'] if step else 'numbaplay compare-c'}`, Numba kernels on "
            f"{r['machine']['numba_blas']}): {len(r['parity'])} tensors judged, "
            + ("all within SPEC section 8's tolerances." if not bad else f"{len(bad)} outside: {', '.join(bad)}.")
            + "\n")


def c_section() -> str:
    note = parity_note()
    parts = [note] if note else []
    for name in ("c_vs_numba.json", "c_vs_numba_openblas.json"):
        if not (BENCH / name).exists():
            continue
        r = load(name)
        rows = [(row["preset"], row["phase"], ms(row["numba_median_s"]), ms(row["c_median_s"]),
                 f"{row['ratio_numba_over_c']:.2f}")
                for p in r["presets"] for row in p["rows"] if row["phase"] in ("rollout", "update", "iteration")]
        load_after = ", ".join(f"{x:.2f}" for x in r["load_average_after"])
        parts += [f"`{r['command']}` (started {r['started']}; load average after: {load_after}; "
                  f"{_blas_names(r)})", "", md_table(("preset", "phase", "Numba ms", "C ms", "Numba / C"), rows), ""]
    return "\n".join(parts)


def blas_section() -> str:
    if not (BENCH / "blas_backends.json").exists():
        return "(no BLAS comparison measured)"
    r = load("blas_backends.json")
    gemm = [(shape, f"{v['openblas']:.1f}", f"{v['mkl']:.1f}", f"{v['mkl_over_openblas']:.2f}x")
            for shape, v in r["gemm_gflops_1_thread"].items()]
    its = [(name, ms(v["openblas_iteration_s"]), ms(v["mkl_iteration_s"]), f"{v['openblas_over_mkl_iteration']:.2f}x",
            ms(v["openblas_update_s"]), ms(v["mkl_update_s"]), f"{v['openblas_over_mkl_update']:.2f}x")
           for name, v in r["iteration"].items()]
    b = r["backends"]
    return "\n".join([
        f"`{r['command']}`  ", f"{b['mkl']['version']}; OpenBLAS from {b['openblas']['version']}; load at start "
        f"`{r['uptime_start']}`, at end `{r['uptime_end']}`.", "",
        md_table(("sgemm (form rows x in x out), 1 thread", "OpenBLAS GFLOP/s", "MKL GFLOP/s", "MKL / OpenBLAS"),
                 gemm), "",
        md_table(("preset", "iteration ms, OpenBLAS", "iteration ms, MKL", "ratio", "update ms, OpenBLAS",
                  "update ms, MKL", "ratio"), its)])


def threads_section() -> str:
    rows = []
    for name in ("threads_tictactoe.json", "threads_ttt-seed.json", "threads_c4-seed.json"):
        r = load(name)
        by = {int(k): v for k, v in r["threads"].items()}
        one, top = by[1], by[max(by)]
        rows.append((r["preset"], ms(one["median_s"]), ms(top["median_s"]), max(by),
                     f"{one['median_s'] / top['median_s']:.2f}", top["identical_to_1_thread"], r["uptime_end"]))
    return md_table(("preset", "rollout ms, 1 thread", "rollout ms, N threads", "N", "speed-up",
                     "same games as 1 thread", "load at end"), rows)


def update_scaling_section() -> str:
    rows, commands = [], []
    for name in ("ttt-seed", "c4-seed"):
        f = RESULTS / "bench" / f"update_scaling_{name}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        commands.append(f"`{r['command']}` (load at end `{r['uptime_end']}`)")
        for t, v in r["threads"].items():
            step = v["per_step"]
            rows.append((name, r["step_design"], t, ms(v["fused_update"]["median_s"]),
                         f"{v['speedup']['fused_update']:.2f}", f"{step['grad_steps']['median_s'] * 1e6:.0f}",
                         f"{v['speedup']['grad_steps']:.2f}", f"{step['full_steps']['median_s'] * 1e6:.0f}",
                         f"{v['param_update_per_step_s'] * 1e6:.0f}", v["same_parameters_as_1_thread"]))
    if not rows:
        return "(no update scaling measured)"
    return "\n".join(["  \n".join(commands), "", md_table(
        ("preset", "step design", "threads", "fused update ms", "speed-up", "gradient us/step", "speed-up",
         "with the update us/step", "norm + Adam (+ sum) us/step", "same parameters as 1 thread"), rows)])


def update_breakdown_section(name: str = "update_breakdown_c4-seed.json") -> str:
    f = BENCH / name
    if not f.exists():
        return "(not measured)"
    r = json.loads(f.read_text())
    shard, step = r["per_step_s"]["shard"], r["per_step_s"]["step"]
    ids = sorted(shard)
    total = sum(step.values())
    slower = {part: max(shard[s][part] for s in ids) for part in shard[ids[0]]}  # the step waits for it
    rows = [(f"**{part.replace('_', ' ')}**" if part == "shard_total" else part,
             *(f"{shard[s][part] * 1e6:.0f}" for s in ids), f"{slower[part] / total:.1%}", "") for part in slower]
    rows += [(f"step: {part}", *("" for _ in ids), f"{v / total:.1%}", f"{v * 1e6:.0f}") for part, v in step.items()]
    table = md_table(("part", *(f"shard {s} us/step" for s in ids), "share of the step", "step us"), rows)
    calls = md_table(("call (one block)", "in the step us", "alone us", "in the step / alone", "GFLOP/s in / alone"),
                     [(k, f"{v['in_step_s'] * 1e6:.1f}", f"{v['alone_s'] * 1e6:.1f}",
                       f"{v['in_step_over_alone']:.2f}",
                       f"{v['in_step_gflops']:.0f} / {v['alone_gflops']:.0f}" if "in_step_gflops" in v else "")
                      for k, v in r["per_call_block"].items()])
    gemm = sum(slower[p] for p in ("gemm_xWt", "gemm_dAtu", "gemm_dAW", "in_layer", "bwd_in_layer"))
    between = sum(step[p] for p in ("gather", "combine_norm", "adam"))
    totals = [shard[s]["shard_total"] for s in ids]
    lead = (f"`{r['command']}` (load at end `{r['uptime_end']}`): {r['steps']} steps of {r['shard_rows']}-row "
            f"shards, the timed copy {ms(r['timed_update']['median_s'])} ms against the fused update's "
            f"{ms(r['fused_update']['median_s'])} ms, same parameters: {r['same_parameters_as_fused']}. GEMM calls "
            f"take {gemm / total:.0%} of a step (the slower shard's), the parts between the shard regions "
            f"(gather, gradient sum with norm, Adam) {between / total:.0%}, and the slower shard ran "
            f"{max(totals) / min(totals) - 1:.1%} longer than the other.")
    return "\n\n".join([lead, table, calls])


def _torch_met(ratio: float, paired: dict | None, quoted: float, target: float) -> str:
    """Met when the side-by-side ratio reaches the target; said so plainly when the paired rounds' interval
    still reaches below it."""
    if ratio >= target:
        if paired is not None and paired["low"] < target:
            return (f"yes at the measured ratio; not with {paired['level']:.0%} confidence (the interval "
                    f"reaches {paired['low']:.2f}x)")
        return "yes"
    return "against the quoted figure only" if quoted >= target else "no"


def goals_section() -> str:
    """Issue 5's goals, each with the measured figure and whether it is met, computed from the files."""
    rows = []
    torch = {p["preset"]: p for p in load("torch_vs_numba.json")["presets"]}
    full_file = BENCH / "torch_vs_numba_fullpool.json"
    full = {p["preset"]: p for p in load(full_file.name)["presets"]} if full_file.exists() else {}
    for name, target in (("ttt-seed", 5.0), ("c4-seed", 3.0)):
        p = torch[name]
        nb = p["numbaplay"]["iteration_s"]
        ratio = p["ratio_torch_over_numbaplay"]
        quoted = ISSUE_TORCH_S[name] / nb
        pr = p.get("paired_ratio")
        spread = "" if pr is None else (
            f" (paired rounds: geometric mean {pr['geometric_mean']:.2f}x, {pr['level']:.0%} interval "
            f"{pr['low']:.2f}x to {pr['high']:.2f}x over {pr['rounds']} rounds)")
        met = _torch_met(ratio, pr, quoted, target)
        late = ""
        if name in full:
            f = full[name]
            fr, fpr = f["ratio_torch_over_numbaplay"], f.get("paired_ratio")
            late = (f"; with full pools on both sides (late in training, {_when()} the pass): {fr:.2f}x "
                    f"({ms(f['torch']['iteration_s'])} ms vs {ms(f['numbaplay']['iteration_s'])} ms"
                    + ("" if fpr is None else f", {fpr['level']:.0%} interval {fpr['low']:.2f}x to {fpr['high']:.2f}x")
                    + ")")
            if ratio < target and fr >= target and (fpr is None or fpr["low"] >= target):
                met = "late in training (full pools) only; not at iteration 0"
        # The most any implementation doing numbaplay's GEMM FLOPs and compulsory traffic could reach here.
        floor = load(f"profile_{name}.json")["floor_s"]
        ceiling = p["torch"]["iteration_s"] / floor
        bound = (f"; PyTorch's iteration over numbaplay's floor for it ({ms(floor)} ms at this machine's measured "
                 f"rates, `profile_{name}.json`): {ceiling:.2f}x, the most that any implementation of the same "
                 f"arithmetic could reach here" + (", below the goal" if ceiling < target else ""))
        rows.append((f"`{name}` at least {target:g}x faster than PyTorch",
                     f"{ratio:.2f}x against PyTorch run side by side at iteration 0 ({ms(p['torch']['iteration_s'])} "
                     f"ms vs {ms(nb)} ms){spread}; {quoted:.2f}x against the issue's quoted "
                     f"{ISSUE_TORCH_S[name] * 1e3:.0f} ms{late}{bound}", met))

    def c_ratios(file):
        if not (BENCH / file).exists():
            return {}
        return {row["preset"]: row["ratio_numba_over_c"] for p in load(file)["presets"] for row in p["rows"]
                if row["phase"] == "iteration"}

    c, c_same = c_ratios("c_vs_numba.json"), c_ratios("c_vs_numba_openblas.json")
    for name in ("ttt-seed", "c4-seed"):
        r = c[name]
        worst = max(r, c_same.get(name, r))
        detail = f"{r:.2f}" + (f" (Numba on MKL); {c_same[name]:.2f} with Numba on OpenBLAS like the C reference"
                               if name in c_same else "")
        rows.append((f"`{name}` Numba iteration at most 0.8x the C reference", detail,
                     "yes" if worst <= 0.8 else "no"))
    prof = load("profile_c4-seed.json")
    upd = [prof["phase_stats"][k] for k in ("update/forward", "update/backward", "update/adam")]
    upd_s = prof["fused"]["update"]["median_s"]
    floor = sum(s["floor_s"] for s in upd)
    # The same floor at the issue's quoted peak, keeping the measured bandwidth term.
    bw = max(prof["machine"]["bandwidth_gbs"].values())
    floor_q = sum(s["gemm_flops"] / (ISSUE_PEAK_GFLOPS * 1e9) + s["compulsory_bytes"] / (bw * 1e9) for s in upd)
    met = "yes" if upd_s <= 1.5 * floor else ("against the quoted peak only" if upd_s <= 1.5 * floor_q else "no")
    repeats = ""
    if (BENCH / "profile_c4-seed_repeats.json").exists():  # the same profile again, process after process
        rep = load("profile_c4-seed_repeats.json")
        med = rep["median_update_floor_ratio"]
        repeats = (f"; the same profile run {len(rep['runs'])} more times, one process after another "
                   f"(`{rep['command']}`): median {med:.2f}x, runs {rep['min_update_floor_ratio']:.2f}x to "
                   f"{rep['max_update_floor_ratio']:.2f}x")
        above = sum(r["update_floor_ratio"] > 1.5 for r in rep["runs"])
        met = _repeated_verdict(met, met == "yes", med <= 1.5, above, len(rep["runs"]), "above 1.5x")
    rows.append(("`c4-seed` update within 1.5x of its FLOP floor",
                 f"fused update {ms(upd_s)} ms, floor {ms(floor)} ms at the measured "
                 f"{prof['machine']['gemm_gflops']['2']:.0f} GFLOP/s: {upd_s / floor:.2f}x; "
                 f"{upd_s / floor_q:.2f}x at the issue's quoted {ISSUE_PEAK_GFLOPS:.0f} GFLOP/s{repeats}", met))
    for name in ("tictactoe", "ttt-seed", "c4-seed"):
        r = load(f"threads_{name}.json")
        sp = r["threads"]["1"]["median_s"] / r["threads"]["2"]["median_s"]
        detail, met = f"{sp:.2f}x", "yes" if sp >= 1.8 else "no"
        if (BENCH / f"threads_{name}_repeats.json").exists():  # the same benchmark again, process after process
            rep = load(f"threads_{name}_repeats.json")
            n, med = len(rep["runs"]), rep["median_speedup"]
            below = sum(x["speedup"] < 1.8 for x in rep["runs"])
            detail += (f" in the pass's run; {n} more processes (`{rep['command']}`): median {med:.2f}x, runs "
                       f"{rep['min_speedup']:.2f}x to {rep['max_speedup']:.2f}x")
            met = _repeated_verdict(met, sp >= 1.8, med >= 1.8, below, n, "below 1.8x")
        rows.append((f"rollout, 2 threads at least 1.8x 1 thread (`{name}`)", detail, met))
    acc = _acceptance(RESULTS / ACCEPTANCE)
    walls, med = acc["walls"], acc["median"]
    rows.append(("Tic-Tac-Toe default preset to optimal play in 10 s or less, warm cache",
                 f"{len(walls)}/{acc['runs']} seeds optimal; median {med:.1f} s, slowest {walls[-1]:.1f} s",
                 ("yes" if walls[-1] <= 10.0 else f"yes for the median; {sum(w > 10.0 for w in walls)} of "
                  f"{len(walls)} runs took longer") if med <= 10.0 else "no"))
    st = json.loads((RESULTS / "startup.json").read_text())
    one = st.get("cold_compile_one_process_s")
    detail = f" ({one:.1f} s when the training process compiles the update kernel too)" if one else ""
    rows.append(("cold compile of the training path under 30 s",
                 f"{st['cold_compile_s']:.1f} s, update kernel compiled by a second process{detail}",
                 "yes" if st["cold_compile_s"] < 30 else "no"))
    c4_file = RESULTS / C4_STARTUP
    if c4_file.exists():
        c4 = json.loads(c4_file.read_text())
        rows.append(("the same for `train connect4` (its default preset)",
                     f"{c4['cold_compile_s']:.1f} s ({c4['cold_compile_one_process_s']:.1f} s in one process); "
                     f"warm start {c4['warm_total_s']:.2f} s for the whole command, one iteration and one "
                     "evaluation included", "yes" if c4["cold_compile_s"] < 30 else "no"))
    rows.append(("warm start under 2 s", f"{st['warm_total_s']:.2f} s", "yes" if st["warm_total_s"] < 2 else "no"))
    return md_table(("goal", "measured", "met"), rows)


def _repeated_verdict(met: str, pass_ok: bool, median_ok: bool, misses: int, n: int, miss_words: str) -> str:
    """The "met" cell of a goal measured in the pass and again in n processes after it (misses of them on
    the wrong side, `miss_words`): `met`, the pass's own verdict, when the pass's run and every repeated
    run agree; else whether the goal holds at the repeated runs' median, with how many missed and how the
    pass's run did."""
    if (pass_ok and median_ok and misses == 0) or (not pass_ok and not median_ok and misses == n):
        return met
    return (f"{'yes' if median_ok else 'no'} at the median of the repeated runs ({misses} of {n} {miss_words}; "
            f"the pass's run {'met it' if pass_ok else 'did not'})")


def _acceptance(folder: Path) -> dict:
    acc = json.loads((folder / "summary.json").read_text())
    walls = sorted(r["train_wall_s"] for r in acc["runs"] if r["optimal"])
    return {"walls": walls, "median": walls[len(walls) // 2], "slowest": walls[-1], "runs": len(acc["runs"]),
            "iterations": [(r["seed"], r["iterations"]) for r in acc["runs"]]}


def _commit(record: dict) -> str:
    """The commit a benchmark file measured: its own `git` field, else the one `machine_info` recorded."""
    git = record.get("git") or (record.get("machine") or {}).get("git") or {}
    return git.get("commit") or "?"


def _same_code(t0: dict, t1: dict) -> bool:
    """Whether two PyTorch comparisons (two passes) ran at the same commit."""
    return _commit(t0)[:7] == _commit(t1)[:7]


def pass_note() -> str:
    """Which code the pass measured, from the commit bench_torch_vs_numba recorded."""
    start = "starting from an empty Numba cache"
    if PASS is not None:  # what scripts/speed_pass.py recorded, where it did
        files = PASS.get("numba_cache_files_at_start")
        start = ("" if files is None else start if files == 0 else
                 f"starting from a Numba cache of {files} files (compiled kernels of this or an earlier commit)")
    return (f"They ran one after the other at commit `{_commit(load('torch_vs_numba.json'))[:7]}` (as "
            "`bench_torch_vs_numba.py` recorded it)" + (f", {start}." if start else "."))


def previous_section() -> str:
    """The figures that move with the machine's state, this pass next to the previous one."""
    if not PREVIOUS["bench"].exists():
        return "(no previous pass kept)"
    rows = []

    def row(what, before, now, unit="", fmt="{:.1f}"):
        rows.append((what, fmt.format(before) + unit, fmt.format(now) + unit, f"{now / before:.2f}"))

    def prev(name):
        return json.loads((PREVIOUS["bench"] / name).read_text())

    t0, t1 = prev("torch_vs_numba.json"), load("torch_vs_numba.json")
    by0 = {p["preset"]: p for p in t0["presets"]}
    by1 = {p["preset"]: p for p in t1["presets"]}
    for name in ("ttt-seed", "c4-seed"):
        a, b = by0[name], by1[name]
        row(f"`{name}` numbaplay iteration", a["numbaplay"]["iteration_s"] * 1e3, b["numbaplay"]["iteration_s"] * 1e3,
            " ms")
        row(f"`{name}` PyTorch iteration", a["torch"]["iteration_s"] * 1e3, b["torch"]["iteration_s"] * 1e3, " ms")
        row(f"`{name}` PyTorch / numbaplay", a["ratio_torch_over_numbaplay"], b["ratio_torch_over_numbaplay"], "x",
            "{:.2f}")
    p0, p1 = prev("profile_c4-seed.json"), load("profile_c4-seed.json")
    row("`c4-seed` fused update (profile)", p0["fused"]["update"]["median_s"] * 1e3,
        p1["fused"]["update"]["median_s"] * 1e3, " ms")
    a0, a1 = _acceptance(PREVIOUS["acceptance"]), _acceptance(RESULTS / ACCEPTANCE)
    row("`tictactoe` to optimal play, median of 5 seeds", a0["median"], a1["median"], " s")
    row("`tictactoe` to optimal play, slowest of 5 seeds", a0["slowest"], a1["slowest"], " s")
    s0, s1 = json.loads(PREVIOUS["startup"].read_text()), json.loads((RESULTS / "startup.json").read_text())
    row("cold compile, `train tictactoe`", s0["cold_compile_s"], s1["cold_compile_s"], " s")
    row("warm start, `train tictactoe`", s0["warm_total_s"], s1["warm_total_s"], " s", "{:.2f}")
    same = a0["iterations"] == a1["iterations"]
    changed = _preset_changes(PREVIOUS["acceptance"], RESULTS / ACCEPTANCE)
    return "\n".join([
        f"The files of {PREVIOUS['what']} are under {PREVIOUS['where']} (PyTorch comparison at commit "
        f"`{_commit(t0)[:7]}`, started {t0['started']}; this pass's started {t1['started']}). {_machines(t0, t1)}"
        f"The `tictactoe` acceptance runs took {'the same' if same else 'different'} iteration counts seed by seed"
        + (f", with the preset changed between them ({changed})" if changed else "")
        + f". {_code_between(t0, t1)}", "",
        md_table(("figure", PREVIOUS["what"], "this pass", "this / that"), rows)])


def _preset_changes(before: Path, after: Path) -> str:
    """The configuration keys (seed aside) whose values differ between two acceptance runs' first seeds, as
    'key a -> b'; empty when they trained the same configuration."""
    def config(folder):  # a key that a run's config.json lacks (added later) had its default value
        first = sorted(folder.glob("seed*/config.json"))[0]
        return {k: v for k, v in {**asdict(TrainConfig()), **json.loads(first.read_text())}.items() if k != "seed"}

    a, b = config(before), config(after)
    return ", ".join(f"`{k}` {a.get(k)} -> {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def _cpu(record: dict) -> str:
    return (record.get("machine") or {}).get("cpu", "?")


def _machines(t0: dict, t1: dict) -> str:
    """Whether the two passes ran on the same kind of CPU, as their PyTorch comparisons recorded it."""
    a, b = _cpu(t0), _cpu(t1)
    if a == b:
        return ""
    return f"That pass ran on `{a}`, this one on `{b}`: a different machine, so ratios compare, times hardly. "


def _code_between(t0: dict, t1: dict) -> str:
    """What besides the machine can explain a change between two passes: the code, if the commits differ."""
    if _same_code(t0, t1):
        return "Both passes ran the same code, so any change is the machine's."
    files = ", ".join(f"`results/bench/{f}`" for f in BETWEEN_PASSES_AB if (BENCH / f).exists())
    if not files:
        return "The code changed between the two commits too."
    return ("The code changed between the two commits, so a change mixes the machine's state with the code's; "
            f"alternating rounds of the changes on one machine state measure the code alone ({files}).")


def machine_note() -> str:
    """How much slower or faster the machine ran this pass than the previous one, from the Tic-Tac-Toe
    acceptance runs when both took the same iterations (then only the machine differs)."""
    if not PREVIOUS["bench"].exists():
        return ""
    a0, a1 = _acceptance(PREVIOUS["acceptance"]), _acceptance(RESULTS / ACCEPTANCE)
    if a0["iterations"] != a1["iterations"]:
        return ""
    f = a1["median"] / a0["median"]
    s0 = json.loads(PREVIOUS["startup"].read_text())
    t0, t1 = json.loads((PREVIOUS["bench"] / "torch_vs_numba.json").read_text()), load("torch_vs_numba.json")
    if not _same_code(t0, t1):
        return (f"The same `tictactoe` acceptance runs as in {PREVIOUS['what']} (the same iterations seed by seed) "
                f"took {f:.2f}x as long at the median here, with the machine and this pass's code both "
                f"changed (\"{_previous_heading()}\" below). In {PREVIOUS['what']}: to optimal play "
                f"median {a0['median']:.1f} s, slowest {a0['slowest']:.1f} s; cold compile "
                f"{s0['cold_compile_s']:.1f} s; warm start {s0['warm_total_s']:.2f} s.")
    return (f"The same `tictactoe` acceptance runs as in {PREVIOUS['what']} (the same iterations seed by seed) "
            f"took {f:.2f}x as long at the median here: the machine ran {'slower' if f > 1 else 'faster'}. Goals "
            f"on absolute times move with it; in {PREVIOUS['what']}: to optimal play median {a0['median']:.1f} s, "
            f"slowest {a0['slowest']:.1f} s; cold compile {s0['cold_compile_s']:.1f} s; warm start "
            f"{s0['warm_total_s']:.2f} s (\"{_previous_heading()}\" below).")


def _when() -> str:
    """When the supplementary runs ran relative to the pass: in it (a speed_pass.py pass) or after it."""
    return "in" if PASS is not None else "after"


def _previous_heading() -> str:
    return f"This pass against {PREVIOUS['what']}"


def games_section() -> str:
    parts = []
    for name in ("ttt-seed", "c4-seed"):
        if not (BENCH / f"games_scaling_{name}.json").exists():
            continue
        r = load(f"games_scaling_{name}.json")
        rows = [(g, f"{v['transitions_per_iter']:.0f}", ms(v["iteration"]["median_s"]),
                 f"{v['rollout']['us_per_transition']:.1f}", f"{v['update']['us_per_transition']:.1f}",
                 f"{v['iteration']['us_per_transition']:.1f}") for g, v in r["sizes"].items()]
        parts += [f"`{r['command']}` (at commit `{_commit(r)}`; Numba threads {r['numba_threads']}; load at end "
                  f"`{r['uptime_end']}`)",
                  "", md_table(("games", "transitions", "iteration ms", "rollout us/transition",
                                "update us/transition", "total us/transition"), rows), ""]
    return "\n".join(parts).rstrip("\n")


def pool_section() -> str:
    """Iteration 0 with a one-entry pool (what the other benchmarks time) next to a full pool, as late in training."""
    rows, cmds = [], []
    for name in ("ttt-seed", "c4-seed"):
        full = PRESETS[name]["pool_size"]
        one, many = BENCH / f"iteration_{name}_pool1.json", BENCH / f"iteration_{name}_pool{full}.json"
        if not (one.exists() and many.exists()):
            continue
        a, b = json.loads(one.read_text()), json.loads(many.read_text())
        for phase in ("rollout", "update", "iteration"):
            x, y = a["phases"][phase]["median_s"], b["phases"][phase]["median_s"]
            rows.append((name, phase, ms(x), ms(y), f"{y / x:.2f}"))
        cmds += [f"`{a['command']}` (load `{a['uptime']}`)", f"`{b['command']}` (load `{b['uptime']}`)"]
    if not rows:
        return "(not measured)"
    return "  \n".join(cmds) + "\n\n" + md_table(
        ("preset", "phase", "pool of 1, ms", "full pool, ms", "full / 1"), rows)


def iteration_note() -> str:
    """The profile's fused iteration next to the same kernels timed alone by bench_iteration."""
    out = []
    for name, prof_file in (("ttt-seed", "profile_ttt-seed.json"), ("c4-seed", "profile_c4-seed.json")):
        alone = load(f"iteration_{name}.json")
        prof = load(prof_file)
        a, b = prof["iteration"]["median_s"], alone["phases"]["iteration"]["median_s"]
        out.append(f"`{name}` from iteration 0: {ms(a)} ms in the profile, {ms(b)} ms alone, the profile "
                   f"{a / b:.2f}x as long (`{alone['command']}`)")
    return ("The profile's `iteration (fused)` is timed between its profiling loops, the same kernels alone "
            "by `bench_iteration.py`: " + "; ".join(out) + ".")


def records_section(last: int = 12) -> str:
    """The latest recorded optimisation steps (`numbaplay profile ... --record STEP`), oldest first."""
    recs = read_records(RESULTS / "optimisations.jsonl")[-last:]
    rows = []
    for r in recs:
        update = sum(v for k, v in r["phases"].items() if k.startswith("update/"))
        evaluation = r["phases"].get("evaluation")  # timed apart from the iteration, when the run evaluated
        rows.append((r["date"], r["preset"], r.get("skip", 0), ms(r["iteration_s"]), ms(update),
                     "" if evaluation is None else ms(evaluation), r["step"]))
    return md_table(("date", "preset", "skip", "iteration ms", "update phases ms", "evaluation ms", "step"), rows)


def use_root(root: Path) -> None:
    """Read the pass that scripts/speed_pass.py wrote under `root`, beside the pass it names as its previous one
    (`speed_pass.py --previous`) or else the pass under results/."""
    global RESULTS, BENCH, PREVIOUS, PASS, ACCEPTANCE, BETWEEN_PASSES_AB
    main_results, main_acceptance = RESULTS, ACCEPTANCE
    RESULTS, BENCH = root, root / "bench"
    PASS = json.loads((root / "pass.json").read_text())
    ACCEPTANCE = "ttt_optimal"
    BETWEEN_PASSES_AB = ()
    previous = PASS.get("previous")  # an earlier pass folder (speed_pass.py --previous), else results/
    if previous:
        PREVIOUS = {"bench": REPO / previous / "bench", "startup": REPO / previous / "startup.json",
                    "acceptance": REPO / previous / "ttt_optimal", "what": f"the pass under {previous}/",
                    "where": f"`{previous}/bench/` (its page: `{previous}/speed.md`), its acceptance run under "
                             f"`{previous}/ttt_optimal/`"}
    else:
        PREVIOUS = {"bench": main_results / "bench", "startup": main_results / "startup.json",
                    "acceptance": main_results / main_acceptance, "what": "the pass under results/",
                    "where": f"`results/bench/` (its page: `results/speed.md`), its acceptance run under "
                             f"`results/{main_acceptance}/`"}


def machine_text() -> str:
    """The CPU the pass ran on, as /proc/cpuinfo names it (with family, model and vector flags where the pass
    recorded them)."""
    cpu = (PASS or {}).get("cpu")
    m = load("torch_vs_numba.json")["machine"]
    if not cpu:
        return f"{m.get('cpus', '?')} cores of `{m.get('cpu', '?')}`"
    avx512 = [f for f in cpu["vector_flags"] if f.startswith("avx512")]
    return (f"{cpu['logical_cpus']} cores of `{cpu['model_name']}` ({cpu['vendor']}, family {cpu['family']} model "
            f"{cpu['model']}; " + (f"AVX-512 with {len(avx512)} extensions" if avx512 else "no AVX-512")
            + ("" if "avx512_bf16" not in avx512 else ", bf16 among them") + ")")


def commands_text() -> str:
    if PASS is None:
        return LEGACY_COMMANDS.format(acceptance=ACCEPTANCE)
    return "\n".join(step["command"] + ("" if step.get("commit", PASS["commit"]) == PASS["commit"] else
                                        f"  # run after the pass, at {step['commit']}")
                     for step in PASS["steps"])


def torch_vs_quoted() -> str:
    """Whether the PyTorch reference runs faster or slower here than the issue's quoted figures, and on what."""
    r = load("torch_vs_numba.json")
    t = r["torch"]
    faster = [p["preset"] for p in r["presets"] if p["torch"]["iteration_s"] < ISSUE_TORCH_S[p["preset"]]]
    which = ("faster than both" if len(faster) == len(r["presets"]) else "slower than both" if not faster
             else "faster than the quoted figure for " + ", ".join(faster) + " only")
    return (f"It runs {which} of the issue's quoted figures here (PyTorch's CPU capability "
            f"{t['torch_cpu_capability']}, MKL {t['torch_mkl']}).")


def main() -> int:
    args = sys.argv[1:]
    root_args = ""
    if args[:1] == ["--root"] and len(args) > 1:
        root = Path(args[1]).resolve()
        root_args = f"--root {args[1]} "
        use_root(root)
        args = args[2:]
    in_pass = PASS is not None
    parts = {
        "iteration_note": iteration_note,
        "pass_note": pass_note, "previous": previous_section, "machine_note": machine_note,
        "games": games_section,
        "goals": goals_section,
        "torch": torch_section, "c": c_section, "threads": threads_section, "blas": blas_section,
        "update_scaling": update_scaling_section, "update_breakdown": update_breakdown_section,
        "records": (records_section if not in_pass else lambda: (
            "This pass recorded no optimisation steps; the record, `results/optimisations.jsonl`, was measured on "
            "the machine of `results/speed.md` (its last section but one).")),
        "pool": pool_section,
        "torch_full_pool": lambda: (torch_section("torch_vs_numba_fullpool.json")
                                    if (BENCH / "torch_vs_numba_fullpool.json").exists() else "(not measured)"),
        "profile-ttt": lambda: profile_section("profile_ttt-seed_skip10.json", "ttt-seed after 10 iterations"),
        "profile-c4": lambda: profile_section("profile_c4-seed.json", "c4-seed, iteration 0"),
        "profile-c4-1": lambda: profile_section("profile_c4-seed_threads1.json", "c4-seed, iteration 0, 1 thread"),
        "profile-tictactoe": lambda: profile_section("profile_tictactoe_skip60.json",
                                                     "tictactoe (the default preset) after 60 iterations"),
    }
    unknown = [a for a in args if a != "--markdown" and a not in parts]
    if unknown or args[:1] in (["-h"], ["--help"]):
        print("usage: python scripts/speed_tables.py [--root DIR] [--markdown | SECTION ...]\n"
              "  --root DIR  a pass written by scripts/speed_pass.py --root DIR (default: results/)\n"
              "  --markdown  the whole of results/speed.md\n"
              f"  SECTION     one or more of: {', '.join(parts)}", file=sys.stderr)
        return 0 if not unknown or args[:1] in (["-h"], ["--help"]) else 2
    if args == ["--markdown"]:
        root_text = str(RESULTS.relative_to(REPO))
        print(DOCUMENT.format(
            acceptance=ACCEPTANCE, args=root_args, root=root_text, machine=machine_text(), commands=commands_text(),
            previous_heading=_previous_heading(), previous_what=PREVIOUS["what"], torch_vs_quoted=torch_vs_quoted(),
            when=_when(), **{k.replace("-", "_"): f() for k, f in parts.items()}))
        return 0
    names = args or list(parts)
    print("\n\n".join(parts[n]() for n in names))
    return 0


# The commands of the pass under results/ (run before scripts/speed_pass.py recorded its own).
LEGACY_COMMANDS = """\
numbaplay compare-c --game all --size both --replays 10000 --iterations 0 --json
numbaplay profile tictactoe --preset ttt-seed --skip 10 --iterations 5 --json
numbaplay profile connect4 --preset c4-seed --iterations 2 --json
numbaplay profile tictactoe --preset ttt-seed --iterations 5 --json
numbaplay profile connect4 --preset c4-seed --iterations 2 --threads 1 --json
numbaplay profile tictactoe --skip 60 --iterations 5 --json
python benchmarks/bench_threads.py --preset tictactoe --repeats 40
python benchmarks/bench_threads.py --preset ttt-seed --repeats 40
python benchmarks/bench_threads.py --preset c4-seed --repeats 40
python benchmarks/bench_update_scaling.py --preset c4-seed --repeats 3 --steps 50
python benchmarks/bench_update_scaling.py --preset ttt-seed --repeats 5
python benchmarks/bench_iteration.py --preset ttt-seed --repeats 5 --threads 2
python benchmarks/bench_iteration.py --preset c4-seed --repeats 3 --threads 2
python benchmarks/bench_c_vs_numba.py --warmup 1 --iterations 5
NUMBAPLAY_BLAS=openblas python benchmarks/bench_c_vs_numba.py --warmup 1 --iterations 5 \\
    --out results/bench/c_vs_numba_openblas.json
python benchmarks/bench_torch_vs_numba.py --rounds 8 --iterations ttt-seed=5 c4-seed=3
python scripts/measure_startup.py --repeats 3
python scripts/measure_startup.py --repeats 3 --preset connect4 --out results/startup_connect4_1024games.json
python benchmarks/bench_games_scaling.py --preset ttt-seed --games 64,128,256,512,1024,2048 --repeats 3 --threads 2
python benchmarks/bench_games_scaling.py --preset c4-seed --games 128,256,512,1024,2048,4096 --repeats 3 --threads 2
python benchmarks/bench_blas.py --rounds 3
python scripts/ttt_acceptance.py --seeds 0 1 2 3 4 --threads 2 --out results/{acceptance}"""

DOCUMENT = """# Speed: where numbaplay stands on issue 5

Generated by `python scripts/speed_tables.py {args}--markdown` from the JSON files under `{root}/bench/`,
`{root}/startup.json`, `{root}/{acceptance}/summary.json` and `results/optimisations.jsonl`;
the commands that wrote them are shown with each table. Machine: {machine}, shared with other jobs;
every run records its load average. Commands, in the order they were run:

```
{commands}
```

{pass_note} The machine's speed changes from hour to hour (other jobs share it): "{previous_heading}"
sets the figures that move with it next to those of {previous_what}. The recorded optimisation
steps (the last section but one) were measured by their own runs; each record holds its command.

## The goals

{machine_note}

{goals}

## {previous_heading}

{previous}

## Against PyTorch, side by side

The PyTorch reference (`benchmarks/torch_reference.py`) is the iteration written the way a PyTorch user
would: vectorised NumPy boards, one batched forward for the learner and one per pool entry under
`inference_mode`, tanh-GELU, `Adam(foreach=True)`, `clip_grad_norm_`. Its games, loss gradients and GAE
were checked against numbaplay's. {torch_vs_quoted}

{torch}

## Against the C reference, side by side

The C reference links OpenBLAS (`scipy-openblas32`); the Numba kernels call MKL where it is installed.
The second table runs the Numba side on OpenBLAS too, so that only the implementations differ.

{c}

## Rollout thread scaling

{threads}

## The kernels' BLAS: MKL against OpenBLAS

The kernels call `sgemm` through `numbaplay.nn.blas`: MKL (PyPI `mkl`, sequential layer) where it is
installed, else SciPy's OpenBLAS. Each round runs both in child processes, alternating the order.

{blas}

## Update thread scaling

`benchmarks/bench_update_scaling.py` times the fused update and, per minibatch step, the gradient alone
and followed by the update of the parameters (at learning rate 0, so that every repeat does the same
work). Row shards (`c4-seed`): each shard's forward, head gradients and whole backward into its own
gradient, then the gradient sum with the norm and Adam over chunks, which stream the parameters, both
moments and both shard gradients; with two threads each core also reads the parameters and the gradient
half that the other core wrote just before. Unit halves (`ttt-seed`; `numbaplay.ppo.update.unit_halves`):
each shard's forward, head gradients and layer input gradients, then each half of every layer's units gets
its weight gradient over all rows, its norm share and its Adam step on the core that keeps its moments.

{update_scaling}

## Inside the `c4-seed` update step

`benchmarks/bench_update_breakdown.py` runs a copy of the fused row-shard update with a cycle-counter read
around every call, after checking that the copy leaves the parameters bit for bit as the package's update
does; it ran {when} this page's pass. Per step: each shard's time in every kind of call (both shards run at
once, one per thread; the step waits for the slower), and the parts between the shard regions. Then each block call
in the step against the same call alone in a loop on one thread, where its operands stay in the core's
caches.

{update_breakdown}

## Cost as games per iteration grow (iteration 0 replayed)

{games}

## Late in training: a full pool

Every benchmark above times iteration 0, when the pool holds one entry and every game's opponent is the
same network. Late in training the pool is full (`pool_size` entries); the opponents' batches then split
by entry into pieces of a few dozen rows, each with its own weights. `bench_iteration.py --pool N` fills
the pool with N perturbed copies of the initial parameters first; both rows of a preset ran one after the
other, {when} this page's pass.

{pool}

The same against PyTorch, both sides with a full pool (`--full-pool`: torch's `--pool full`, numbaplay's
`bench_iteration.py --pool pool_size`), measured {when} this page's pass; the goals above are judged at
iteration 0, as the rest of this page:

{torch_full_pool}

## The latest recorded optimisation steps

Each row is one `numbaplay profile` run appended to `results/optimisations.jsonl` with `--record`, and each
record holds its command. A "before:" row and the rows that follow it for the same preset were measured
with the same command, one after the other. Iteration: the fused iteration's median; update phases: the
sum of the profile's update phases (timed in separate loops, so they can exceed the fused iteration);
evaluation: one evaluation, timed apart from the iteration (Tic-Tac-Toe runs evaluate every `eval_every`
iterations).

{records}

## Per phase

{iteration_note}

{profile_ttt}

{profile_c4}

{profile_c4_1}

{profile_tictactoe}
"""


if __name__ == "__main__":
    sys.exit(main())
