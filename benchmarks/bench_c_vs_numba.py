"""Race numbaplay's Numba trainer against the C reference on whole training iterations, phase by phase.

Both implementations start from the same initial parameters and config (a preset at its full size), run
`--warmup` untimed iterations and then `--iterations` timed ones, with BLAS on one thread and the same
thread count for Numba's parallel loops and C's OpenMP loops. Each phase (rollout, GAE, update, whole
iteration) is reported as the median with min and max, and the ratio of the medians Numba / C (> 1:
Numba slower). The C times come from the binary's own CLOCK_MONOTONIC timers (`time.*`), the Numba
times from `Trainer.step()`; neither includes process start-up or file I/O.

    .venv/bin/python benchmarks/bench_c_vs_numba.py                        # ttt-seed and c4-seed
    .venv/bin/python benchmarks/bench_c_vs_numba.py --presets ttt-seed --iterations 9 --threads 1

Writes a JSON summary (machine, load average before and after, per preset the config, the raw seconds
of every timed iteration and the per-phase table) to `--out`. The C reference links OpenBLAS; the Numba
kernels use MKL where it is installed (`machine.numba_blas`), so for a like-for-like BLAS run

    NUMBAPLAY_BLAS=openblas .venv/bin/python benchmarks/bench_c_vs_numba.py --out results/bench/c_vs_numba_openblas.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

from numbaplay.cref import compare as cmp
from numbaplay.cref.build import build_binary
from numbaplay.omp import use_short_spin
from numbaplay.presets import PRESETS
from numbaplay.sysinfo import git_state

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    use_short_spin()  # the OpenMP spin training runs with (numbaplay/omp.py)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--presets", default="ttt-seed,c4-seed", help="comma-separated preset names")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first (JIT, caches)")
    ap.add_argument("--iterations", type=int, default=5, help="timed iterations (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="Numba and C threads (default: Numba's)")
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / "c_vs_numba.json"))
    args = ap.parse_args(argv)
    names = [p.strip() for p in args.presets.split(",") if p.strip()]
    for name in names:
        if name not in PRESETS:
            ap.error(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    if args.iterations < 1 or args.warmup < 0:
        ap.error("--iterations must be >= 1 and --warmup >= 0")

    build_binary()
    machine = cmp.machine_info(args.threads)
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    results = []
    for name in names:
        cfg = cmp.parity_config(name, PRESETS[name]["arch"], "full")
        t0 = time.perf_counter()
        res = cmp.time_preset(cfg, name, warmup=args.warmup, iterations=args.iterations, threads=args.threads)
        wall = time.perf_counter() - t0
        results.append({"preset": name, "config": res["config"], "wall_s": wall, "rows": res["rows"],
                        "numba": res["numba"].to_dict(), "c": res["c"].to_dict()})
        nb, c = res["numba"], res["c"]
        print(f"{name}: {args.iterations} timed iterations after {args.warmup} warm-up, threads "
              f"{nb.threads}, transitions/iteration Numba {nb.transitions} C {c.transitions}")
        print(f"  {'phase':10} {'Numba median s':>15} {'min':>9} {'max':>9} {'C median s':>11} {'min':>9} "
              f"{'max':>9} {'Numba/C':>8}")
        for r in res["rows"]:
            print(f"  {r['phase']:10} {r['numba_median_s']:>15.4g} {r['numba_min_s']:>9.4g} "
                  f"{r['numba_max_s']:>9.4g} {r['c_median_s']:>11.4g} {r['c_min_s']:>9.4g} "
                  f"{r['c_max_s']:>9.4g} {r['ratio_numba_over_c']:>8.2f}")
    after = cmp.machine_info(args.threads).get("load_average")
    command = " ".join([sys.argv[0], *sys.argv[1:]])
    if os.environ.get("NUMBAPLAY_BLAS"):
        command = f"NUMBAPLAY_BLAS={os.environ['NUMBAPLAY_BLAS']} {command}"
    summary = {"benchmark": "c_vs_numba", "started": started, "command": command,
               "git": git_state(ROOT), "warmup": args.warmup, "iterations": args.iterations, "blas_threads": 1,
               "machine": machine, "load_average_after": after, "presets": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
