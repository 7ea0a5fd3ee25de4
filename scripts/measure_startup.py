"""Cold JIT compile time of the training path and warm start-up time, by subprocess.

Cold: an empty Numba cache (NUMBA_CACHE_DIR points at a fresh folder), `numbaplay train tictactoe
--iterations 1`. Warm: the same command again with that cache filled. Cold, one process: a fresh cache
again with NUMBAPLAY_BACKGROUND_COMPILE=0, so the update kernel is compiled in the training process
instead of a second one (`numbaplay.background_compile`). Each is repeated; medians are written to
results/startup.json.

    python scripts/measure_startup.py --repeats 3
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from numbaplay.profile.machine import uptime


def timed(cmd, env):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--preset", default="tictactoe")
    ap.add_argument("--out", default="results/startup.json")
    args = ap.parse_args()
    from numbaplay.presets import preset

    game = preset(args.preset).game
    exe = [sys.executable, "-m", "numbaplay", "train", game, "--preset", args.preset,
           "--iterations", "1", "--eval-every", "1", "--no-report", "--threads", "2"]
    noop = [sys.executable, "-c", "import numbaplay.cli"]
    cold, warm, base, single = [], [], [], []
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="nbcache-")
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        env.pop("NUMBAPLAY_BACKGROUND_COMPILE", None)
        runs = tempfile.mkdtemp(prefix="nbruns-")
        cold.append(timed([*exe, "--out", f"{runs}/a"], env))
        warm.append(timed([*exe, "--out", f"{runs}/b"], env))
        base.append(timed(noop, env))
        shutil.rmtree(cache)
        cache = tempfile.mkdtemp(prefix="nbcache-")
        env_one = {**env, "NUMBA_CACHE_DIR": cache, "NUMBAPLAY_BACKGROUND_COMPILE": "0"}
        single.append(timed([*exe, "--out", f"{runs}/c"], env_one))
        shutil.rmtree(cache)
        shutil.rmtree(runs)
    load = uptime()
    out = {"command": f"python scripts/measure_startup.py --repeats {args.repeats} --preset {args.preset} "
                      f"--out {args.out}",
           "train_command": " ".join(exe[1:]) + " --out DIR",
           "cold_total_s": float(np.median(cold)), "warm_total_s": float(np.median(warm)),
           "python_import_s": float(np.median(base)),
           "cold_compile_s": float(np.median(cold) - np.median(warm)),
           "cold_compile_one_process_s": float(np.median(single) - np.median(warm)),
           "cold_runs_s": cold, "warm_runs_s": warm, "cold_one_process_runs_s": single, "uptime": load,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path("results").mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
