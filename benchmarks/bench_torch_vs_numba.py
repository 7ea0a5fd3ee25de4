"""Side by side: numbaplay against idiomatic PyTorch on the CPU, per training iteration, in one run.

For each preset, alternating subprocess runs (A B, then B A, ... for `--rounds` rounds) of

  numbaplay: `benchmarks/bench_iteration.py --preset P --repeats N --warmup 1 --threads T` (default,
             `--numbaplay-timer trainer`): the Trainer's rollout, GAE and update as training runs them,
             evaluation excluded; or, with `--numbaplay-timer profile`, `numbaplay profile GAME --preset P
             --iterations N --json --threads T --no-eval`, whose fused iteration is timed between its
             profiling loops and reads about 20% slower; and
  torch:     `benchmarks/torch_reference.py --preset P --threads T --warmup W --iterations N --json`
             (the same iteration in PyTorch, `torch.set_num_threads(T)`; see its docstring),

both at the same thread count T. The ratio reported per preset is median(torch iteration_s) /
median(numbaplay iteration_s) over the rounds (> 1: numbaplay faster); per-phase ratios as well.

The opponent pool: `numbaplay profile` starts from iteration 0, whose pool holds one network, so by
default the torch side runs with `--pool grow` (numbaplay's schedule, also one network), i.e. the same
work: the same forward calls per step. `--torch-pool full` gives torch a full pool of pool_size
perturbed networks (one forward per entry and step: many more, smaller batches), which is what a
long run sees but not what numbaplay's side measures. `--full-pool` gives both sides a full pool (torch
`--pool full`, numbaplay `bench_iteration.py --pool pool_size`): the steady state of a long run,
measured side by side. Both sides' forward calls per iteration are recorded.

PyTorch is a benchmark-only dependency (not in setup.cfg). On this project's machines:

    .venv/bin/pip install "torch==2.13.0+cpu"     # the CPU build, from the local wheel directory
    # elsewhere: .venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    # (PyPI's plain `pip install torch` is the CUDA build and pulls ~3 GB of nvidia-* packages)

    .venv/bin/python benchmarks/bench_torch_vs_numba.py                       # ttt-seed and c4-seed, 3 rounds
    .venv/bin/python benchmarks/bench_torch_vs_numba.py --rounds 1 --iterations ttt-seed=3 c4-seed=2

Contention: on 2 cores PyTorch's OpenMP threads spin-wait at every parallel region, so one other busy
process makes the torch side collapse (measured here: ttt-seed 370 ms -> 28 s per iteration with one
`while True` loop beside it; 900 ms with OMP_WAIT_POLICY=PASSIVE). Measure on a quiet machine: each
run records `other_cores_avg`, the CPU the rest of the machine used meanwhile (/proc/stat minus the
run's own CPU time), and a run with more than ~0.1 is not a clean measurement. `--torch-omp-passive`
runs torch with OMP_WAIT_POLICY=PASSIVE (recorded; not what an idiomatic user sets).

Writes `--out` (default results/bench/torch_vs_numba.json): machine, load before and after, the exact
command line, every raw run (trimmed JSON of each subprocess), medians and ratios; prints a markdown table.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from numbaplay.cref.compare import machine_info  # noqa: E402
from numbaplay.presets import PRESETS  # noqa: E402
from numbaplay.profile.machine import uptime  # noqa: E402
from numbaplay.report.stats import t_interval  # noqa: E402
from numbaplay.sysinfo import cpu_model, git_state  # noqa: E402

TORCH_SCRIPT = ROOT / "benchmarks" / "torch_reference.py"
TARGETS = {"ttt-seed": 5.0, "c4-seed": 3.0}  # issue 5: numbaplay at least this many times faster
PHASES = ("rollout", "gae", "update")
CONTENTION = 0.1  # other_cores_avg above this: the machine was not quiet


def _json_from(stdout: str) -> dict:
    """The JSON object a subprocess printed (anything before its first '{' line is ignored)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            return json.loads("\n".join(lines[i:]))
    raise ValueError("no JSON object in the output")


def _busy_cpu_s() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores, /proc/stat), or None."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _measured(cmd: list[str], timeout: float, env: dict | None = None):
    """Run cmd; (the finished process, how busy the rest of the machine was meanwhile: contention)."""
    busy0, child0 = _busy_cpu_s(), _children_cpu_s()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=None if env is None else {**os.environ, **env})
    wall = time.perf_counter() - t0
    busy1, child1 = _busy_cpu_s(), _children_cpu_s()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    own = child1 - child0
    other = None if busy0 is None or busy1 is None else max(0.0, (busy1 - busy0) - own)
    info = {"wall_s": wall, "own_cpu_s": own, "other_cpu_s": other,
            "other_cores_avg": None if other is None else other / wall}
    return proc, info


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[dict, dict]:
    """Run cmd and parse the JSON it printed; also the contention (`_measured`)."""
    proc, info = _measured(cmd, timeout, env)
    return _json_from(proc.stdout), info


def run_numbaplay(preset: str, iterations: int, threads: int, timeout: float) -> dict:
    exe = Path(sys.executable).parent / "numbaplay"
    cmd = [str(exe), "profile", PRESETS[preset]["game"], "--preset", preset, "--iterations", str(iterations),
           "--json", "--threads", str(threads), "--no-eval"]
    res, info = _run(cmd, timeout)
    fused = res["fused"]
    stats = res.get("phase_stats", {})
    update_flops = sum((stats.get(k) or {}).get("gemm_flops") or 0 for k in ("update/forward", "update/backward"))
    return {
        "implementation": "numbaplay", "command": " ".join(cmd), **info,
        "iteration_s": res["iteration_s"], "iteration": res["iteration"],
        "iteration_cpu_s": res.get("iteration_cpu_s"),
        "phases": {p: fused[p]["median_s"] for p in PHASES},
        "profiled_phases": res["phases"],
        "transitions_per_iter": res["transitions_per_iter"],
        "forward_calls_per_iter": res["forward_calls_per_iter"],
        "rollout_rows_per_iter": res["rollout_rows_per_iter"],
        "update_steps_per_iter": res["update_steps_per_iter"],
        "update_gflop": update_flops / 1e9 if update_flops else None,
        "numba_threads": res["numba_threads"], "blas_threads": res["blas_threads"],
        "blas_threads_in_effect": res.get("blas_threads_in_effect"),
        "jit_compile_s": res.get("jit_compile_s"), "stale_kernel_caches": res.get("stale_kernel_caches"),
        "uptime_start": res.get("uptime_start"), "uptime_end": res.get("uptime_end"),
    }


def run_numbaplay_trainer(preset: str, iterations: int, threads: int, timeout: float,
                          pool_entries: int | None = None) -> dict:
    """numbaplay timed as training runs it: `benchmarks/bench_iteration.py` (Trainer rollout, GAE and
    update, one untimed iteration first; the pool stays at one network, as torch's `--pool grow`, unless
    pool_entries fills it first, as torch's `--pool full`)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "iteration.json"
        cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_iteration.py"), "--preset", preset, "--repeats",
               str(iterations), "--warmup", "1", "--threads", str(threads), "--out", str(out)]
        if pool_entries:
            cmd += ["--pool", str(pool_entries)]
        _, info = _measured(cmd, timeout)
        res = json.loads(out.read_text())
    phases = res["phases"]
    return {
        "implementation": "numbaplay", "timer": "trainer", "command": " ".join(cmd), **info,
        "iteration_s": phases["iteration"]["median_s"], "iteration": phases["iteration"],
        "phases": {p: phases[p]["median_s"] for p in PHASES},
        "transitions_per_iter": res["transitions_per_iter"], "forward_calls_per_iter": None,
        "numba_threads": res["numba_threads"], "blas_threads": res["blas_threads"], "uptime_end": res["uptime"],
    }


def run_torch(preset: str, iterations: int, warmup: int, threads: int, pool: str, timeout: float,
              env: dict | None = None) -> dict:
    cmd = [sys.executable, str(TORCH_SCRIPT), "--preset", preset, "--threads", str(threads), "--warmup",
           str(warmup), "--iterations", str(iterations), "--pool", pool, "--json"]
    res, info = _run(cmd, timeout, env)
    keep = ("iteration_s", "iteration_times_s", "iteration_cpu_s", "iteration_cpu_times_s", "phases", "phase_times_s",
            "transitions_per_iter", "transitions",
            "forward_calls_per_iter", "rollout_rows_per_iter", "update_steps_per_iter", "update_gflop",
            "update_gflop_per_s", "rollout_gflop", "pool_mode", "pool_entries", "threads", "torch_num_threads",
            "torch_version", "torch_cpu_capability", "torch_mkl", "torch_cuda_build", "losses_last", "setup_s",
            "warmup_s", "uptime_start", "uptime_end")
    return {"implementation": "torch", "command": " ".join(cmd), "env": env or {}, **info,
            **{k: res.get(k) for k in keep}}


def _iterations(spec: list[str], names: list[str]) -> dict[str, int]:
    """--iterations values: 'N' for every preset, 'PRESET=N' for one (which wins, in any order)."""
    parts = [part for item in spec for part in item.split(",") if part]
    default = [int(p) for p in parts if "=" not in p]
    out = {n: default[-1] if default else 5 for n in names}
    for part in parts:
        if "=" in part:
            k, v = part.split("=", 1)
            if k not in out:
                raise ValueError(f"--iterations names {k!r}, which is not among --presets")
            out[k] = int(v)
    if any(v < 1 for v in out.values()):
        raise ValueError("--iterations must be >= 1")
    return out


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _count(x) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def paired_ratios(runs: list[dict], level: float = 0.95) -> dict | None:
    """Per round, torch's iteration time over numbaplay's (the two ran back to back in that round), and a
    `level` interval for their typical ratio: the geometric mean of the round ratios with a Student t
    interval on the mean of their logarithms (`numbaplay.report.stats.t_interval`; rounds as independent
    samples of the machine's state).
    None with fewer than two complete rounds."""
    by_round: dict[int, dict[str, float]] = {}
    for r in runs:
        by_round.setdefault(r["round"], {})[r["implementation"]] = r["iteration_s"]
    ratios = [v["torch"] / v["numbaplay"] for _, v in sorted(by_round.items())
              if v.get("torch") and v.get("numbaplay")]
    if len(ratios) < 2:
        return None
    ci = t_interval([math.log(x) for x in ratios], level)
    return {"per_round": ratios, "geometric_mean": math.exp(ci.mean), "level": level,
            "low": math.exp(ci.lo), "high": math.exp(ci.hi), "rounds": len(ratios)}


def summarise(preset: str, runs: list[dict]) -> dict:
    nb = [r for r in runs if r["implementation"] == "numbaplay"]
    tc = [r for r in runs if r["implementation"] == "torch"]
    out = {"preset": preset, "target_ratio": TARGETS.get(preset)}
    for name, rs in (("numbaplay", nb), ("torch", tc)):
        out[name] = {
            "iteration_s": _median(r["iteration_s"] for r in rs),
            "iteration_s_per_round": [r["iteration_s"] for r in rs],
            "iteration_cpu_s": _median(r.get("iteration_cpu_s") for r in rs),
            "phases": {p: _median(r["phases"][p] for r in rs) for p in PHASES},
            "transitions_per_iter": _median(r["transitions_per_iter"] for r in rs),
            "forward_calls_per_iter": _median(r.get("forward_calls_per_iter") for r in rs),
            "update_gflop": _median(r.get("update_gflop") for r in rs),
            "other_cores_avg_max": max((r["other_cores_avg"] for r in rs if r["other_cores_avg"] is not None),
                                       default=None),
        }
    n_it, t_it = out["numbaplay"]["iteration_s"], out["torch"]["iteration_s"]
    out["ratio_torch_over_numbaplay"] = t_it / n_it
    out["phase_ratios_torch_over_numbaplay"] = {
        p: (out["torch"]["phases"][p] / out["numbaplay"]["phases"][p]) if out["numbaplay"]["phases"][p] else None
        for p in PHASES}
    target = out["target_ratio"]
    out["meets_target"] = None if target is None else out["ratio_torch_over_numbaplay"] >= target
    out["paired_ratio"] = paired_ratios(runs)
    return out


def _interval(pr: dict | None) -> str:
    return "" if pr is None else f" ({pr['level']:.0%}: {pr['low']:.2f}-{pr['high']:.2f})"


def table(summaries: list[dict], threads: int) -> str:
    head = ("| preset | numbaplay ms/iter | torch ms/iter | torch / numbaplay | target | rollout ms nb / torch | "
            "update ms nb / torch | transitions nb / torch | forward calls nb / torch | other load nb / torch |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for s in summaries:
        nb, tc = s["numbaplay"], s["torch"]
        target = "-" if s["target_ratio"] is None else f">= {s['target_ratio']:g}x"
        rows.append(
            f"| {s['preset']} | {nb['iteration_s'] * 1e3:.1f} | {tc['iteration_s'] * 1e3:.1f} | "
            f"{s['ratio_torch_over_numbaplay']:.2f}x{_interval(s.get('paired_ratio'))} | {target} | "
            f"{nb['phases']['rollout'] * 1e3:.1f} / {tc['phases']['rollout'] * 1e3:.1f} | "
            f"{nb['phases']['update'] * 1e3:.1f} / {tc['phases']['update'] * 1e3:.1f} | "
            f"{nb['transitions_per_iter']:.0f} / {tc['transitions_per_iter']:.0f} | "
            f"{_count(nb['forward_calls_per_iter'])} / {_count(tc['forward_calls_per_iter'])} | "
            f"{_fmt(nb['other_cores_avg_max'])} / {_fmt(tc['other_cores_avg_max'])} |")
    rows.append(f"\n{threads} threads both sides; medians over rounds of per-run medians; ratio > 1: numbaplay faster "
                "(in brackets: a 95% interval for the ratio from the rounds' paired ratios, `paired_ratios`); "
                "other load: the most CPU (in cores) the rest of the machine used during one run.")
    busy = [s["preset"] for s in summaries for k in ("numbaplay", "torch")
            if (s[k]["other_cores_avg_max"] or 0) > CONTENTION]
    if busy:
        rows.append(f"WARNING: other processes used more than {CONTENTION} cores during runs of "
                    f"{', '.join(sorted(set(busy)))}: not a clean measurement.")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", nargs="+", default=["ttt-seed", "c4-seed"], help="preset names (space or comma)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating numbaplay/torch pairs per preset")
    ap.add_argument("--threads", type=int, default=2, help="Numba threads and torch.set_num_threads")
    ap.add_argument("--iterations", nargs="+", default=["5"],
                    help="timed iterations per run: N for all presets, or PRESET=N (e.g. ttt-seed=5 c4-seed=3)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="torch's untimed iterations first (numbaplay profile always runs one)")
    ap.add_argument("--numbaplay-timer", choices=("trainer", "profile"), default="trainer",
                    help="trainer: benchmarks/bench_iteration.py, the Trainer's own phases (as training runs); "
                         "profile: `numbaplay profile --json` (its fused iteration, measured between its "
                         "profiling loops, which read about 20%% slower)")
    ap.add_argument("--torch-pool", choices=("grow", "full"), default="grow",
                    help="grow: one-network pool as numbaplay profile's iteration 0 (same work); full: pool_size")
    ap.add_argument("--full-pool", action="store_true",
                    help="both sides with a full pool (pool_size networks), as late in training; numbaplay's "
                         "trainer timer only")
    ap.add_argument("--torch-omp-passive", action="store_true",
                    help="run torch with OMP_WAIT_POLICY=PASSIVE (not idiomatic; survives a busy machine)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed to one subprocess")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "torch_vs_numba.json"))
    args = ap.parse_args(argv)
    names = [p.strip() for item in args.presets for p in item.split(",") if p.strip()]
    for name in names:
        if name not in PRESETS:
            ap.error(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    try:
        iterations = _iterations(args.iterations, names)
    except ValueError as exc:
        ap.error(str(exc))
    if args.rounds < 1 or args.threads < 1 or args.warmup < 0:
        ap.error("--rounds and --threads must be >= 1 and --warmup >= 0")
    if args.full_pool:
        if args.numbaplay_timer != "trainer":
            ap.error("--full-pool needs --numbaplay-timer trainer")
        args.torch_pool = "full"

    torch_env = {"OMP_WAIT_POLICY": "PASSIVE"} if args.torch_omp_passive else None
    machine = machine_info(args.threads)
    machine["cpu"] = cpu_model()
    machine["torch_threads"] = args.threads
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    load_before = uptime()
    t_start = time.perf_counter()
    presets = []
    for name in names:
        runs = []
        for r in range(args.rounds):
            order = ("numbaplay", "torch") if r % 2 == 0 else ("torch", "numbaplay")
            for impl in order:
                if impl == "numbaplay" and args.numbaplay_timer == "trainer":
                    res = run_numbaplay_trainer(name, iterations[name], args.threads, args.timeout,
                                                PRESETS[name]["pool_size"] if args.full_pool else None)
                elif impl == "numbaplay":
                    res = run_numbaplay(name, iterations[name], args.threads, args.timeout)
                else:
                    res = run_torch(name, iterations[name], args.warmup, args.threads, args.torch_pool,
                                    args.timeout, torch_env)
                res["round"] = r
                runs.append(res)
                print(f"{name} round {r} {impl:9}: {res['iteration_s'] * 1e3:8.1f} ms/iter "
                      f"(rollout {res['phases']['rollout'] * 1e3:.1f}, update {res['phases']['update'] * 1e3:.1f}; "
                      f"{res['transitions_per_iter']:.0f} transitions; run {res['wall_s']:.0f} s, other load "
                      f"{_fmt(res['other_cores_avg'])} cores)", flush=True)
        summary = summarise(name, runs)
        summary["iterations"] = iterations[name]
        summary["runs"] = runs
        presets.append(summary)
    load_after = uptime()
    md = table(presets, args.threads)
    torch_info = next((r for p in presets for r in p["runs"] if r["implementation"] == "torch"), {})
    command = " ".join([sys.executable, *sys.argv]) if argv is None else " ".join([sys.argv[0], *argv])
    out = {
        "benchmark": "torch_vs_numba", "started": started, "command": command, "git": git_state(ROOT),
        "threads": args.threads, "rounds": args.rounds, "iterations": iterations, "torch_warmup": args.warmup,
        "numbaplay_warmup": 1, "numbaplay_timer": args.numbaplay_timer,
        "torch_pool": args.torch_pool, "full_pool": args.full_pool, "torch_env": torch_env or {},
        "targets": TARGETS,
        "machine": machine,
        "torch": {k: torch_info.get(k) for k in ("torch_version", "torch_cpu_capability", "torch_mkl",
                                                 "torch_cuda_build", "torch_num_threads")},
        "uptime_before": load_before, "uptime_after": load_after, "wall_s": time.perf_counter() - t_start,
        "summary": [{k: v for k, v in p.items() if k != "runs"} for p in presets],
        "presets": presets, "table_markdown": md,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    print()
    print(md)
    print(f"\nload before: {load_before}\nload after:  {load_after}\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
