"""The kernels' BLAS backends side by side: MKL against SciPy's OpenBLAS (`NUMBAPLAY_BLAS`).

Each round runs one child process per backend, in alternating order (the backend is bound when
`numbaplay.nn.blas` is imported). A child times single-threaded `sgemm` on the networks' own shapes
(the three GEMM forms of a forward and backward, at the row counts the presets use) and, per preset,
training iterations after a warm-up. The report is medians over rounds and the OpenBLAS / MKL ratio of
each. Writes results/bench/blas_backends.json with machine info and the load.

    python benchmarks/bench_blas.py --rounds 3 --presets ttt-seed c4-seed
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BACKENDS = ("openblas", "mkl")
# (form, rows, fan_in, fan_out): forward `gemm_nt` (rows x in) (out x in)^T, weight gradient `gemm_tn`
# (rows x out)^T (rows x in), input gradient `gemm_nn` (rows x out) (out x in); hidden 256 as both seeds.
# The heads (fan_out = the game's moves: 7 for Connect Four, 9 for Tic-Tac-Toe) in all three forms.
SHAPES = [(form, rows, 256, 256) for rows in (32, 128) for form in ("nt", "tn", "nn")] + [
    ("nt", 128, 84, 256)] + [(form, 128, 256, moves) for moves in (7, 9) for form in ("nt", "tn", "nn")]


def child(presets, iterations, warmup):
    import numba

    from numbaplay.nn.blas import gemm_nn, gemm_nt, gemm_tn, kernel_blas_info
    from numbaplay.omp import use_short_spin
    from numbaplay.ppo.trainer import Trainer
    from numbaplay.presets import preset
    from numbaplay.profile.machine import blas_limits

    use_short_spin()
    rng = np.random.default_rng(0)
    out = {"backend": kernel_blas_info(), "gemm": {}, "iteration": {}}
    zero = np.float32(0.0)
    with blas_limits(1):
        numba.set_num_threads(1)
        for form, rows, fan_in, fan_out in SHAPES:
            x = rng.standard_normal((rows, fan_in)).astype(np.float32)
            w = rng.standard_normal((fan_out, fan_in)).astype(np.float32)
            d = rng.standard_normal((rows, fan_out)).astype(np.float32)
            if form == "nt":
                c = np.zeros((rows, fan_out), np.float32)
                call = lambda c=c, x=x, w=w: gemm_nt(c, x, w, zero)  # noqa: E731
            elif form == "tn":
                c = np.zeros((fan_out, fan_in), np.float32)
                call = lambda c=c, d=d, x=x: gemm_tn(c, d, x, zero)  # noqa: E731
            else:
                c = np.zeros((rows, fan_in), np.float32)
                call = lambda c=c, d=d, w=w: gemm_nn(c, d, w, zero)  # noqa: E731
            call()
            reps = max(20, int(2e8 / (2 * rows * fan_in * fan_out)))
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                for _ in range(reps):
                    call()
                times.append((time.perf_counter() - t0) / reps)
            out["gemm"][f"{form} {rows}x{fan_in}x{fan_out}"] = 2 * rows * fan_in * fan_out / np.median(times) / 1e9
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        for name in presets:
            tr = Trainer(preset(name))
            times = []
            for i in range(warmup + iterations):
                _, _, phase_s = tr.timed_phases()
                tr.iteration += 1
                if i >= warmup:
                    times.append((phase_s["iteration"], phase_s["update"]))
            out["iteration"][name] = {"iteration_s": float(np.median([t[0] for t in times])),
                                      "update_s": float(np.median([t[1] for t in times]))}
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="Rounds; each runs both backends, alternating.")
    ap.add_argument("--presets", nargs="*", default=["ttt-seed", "c4-seed"])
    ap.add_argument("--iterations", type=int, default=3, help="Timed iterations per preset per child.")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--out", default="results/bench/blas_backends.json")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.presets, args.iterations, args.warmup)
        return
    from numbaplay.profile.machine import uptime
    from numbaplay.runs import machine_info

    load_start = uptime()
    runs = {b: [] for b in BACKENDS}
    for r in range(args.rounds):
        for backend in (BACKENDS if r % 2 == 0 else BACKENDS[::-1]):
            cmd = [sys.executable, __file__, "--child", "--iterations", str(args.iterations),
                   "--warmup", str(args.warmup), "--presets", *args.presets]
            env = {**os.environ, "NUMBAPLAY_BLAS": backend}
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[backend].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds}: {backend} done", file=sys.stderr)

    def med(backend, pick):
        return float(np.median([pick(run) for run in runs[backend]]))

    gemm = {shape: {b: med(b, lambda run, s=shape: run["gemm"][s]) for b in BACKENDS}
            for shape in runs["mkl"][0]["gemm"]}
    for row in gemm.values():
        row["mkl_over_openblas"] = row["mkl"] / row["openblas"]
    iteration = {}
    for name in args.presets:
        row = {f"{b}_{k}": med(b, lambda run, k=k, name=name: run["iteration"][name][k]) for b in BACKENDS
               for k in ("iteration_s", "update_s")}
        row["openblas_over_mkl_iteration"] = row["openblas_iteration_s"] / row["mkl_iteration_s"]
        row["openblas_over_mkl_update"] = row["openblas_update_s"] / row["mkl_update_s"]
        iteration[name] = row
    result = {"benchmark": "blas_backends", "rounds": args.rounds, "iterations": args.iterations,
              "warmup": args.warmup, "backends": {b: runs[b][0]["backend"] for b in BACKENDS},
              "gemm_gflops_1_thread": gemm, "iteration": iteration, "machine": machine_info(),
              "uptime_start": load_start, "uptime_end": uptime(),
              "command": "python benchmarks/bench_blas.py " + " ".join(
                  f"--{k} {' '.join(v) if isinstance(v, list) else v}" for k, v in vars(args).items()
                  if k != "child")}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    for shape, row in gemm.items():
        print(f"sgemm {shape:16s} OpenBLAS {row['openblas']:6.1f}  MKL {row['mkl']:6.1f} GFLOP/s  "
              f"({row['mkl_over_openblas']:.2f}x)")
    for name, row in iteration.items():
        print(f"{name:9s} iteration OpenBLAS {row['openblas_iteration_s'] * 1e3:8.1f} ms  MKL "
              f"{row['mkl_iteration_s'] * 1e3:8.1f} ms ({row['openblas_over_mkl_iteration']:.2f}x); update "
              f"{row['openblas_update_s'] * 1e3:8.1f} / {row['mkl_update_s'] * 1e3:8.1f} ms "
              f"({row['openblas_over_mkl_update']:.2f}x)")
    print(f"written {out}")


if __name__ == "__main__":
    main()
