"""What the per-seed study scripts share (`ttt_acceptance.py`, `c4_study.py`): one `numbaplay train`
process per seed, in a new results folder whose JIT cache a short untimed run has filled first."""
import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def train(game: str, out: Path, seed: int, threads: int, preset: str, extra=()) -> float:
    """Run `numbaplay train GAME` into `out`; returns the process's wall seconds."""
    cmd = [sys.executable, "-m", "numbaplay", "train", game, "--preset", preset, "--seed", str(seed),
           "--threads", str(threads), "--out", str(out), *extra]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def new_study(out: Path, game: str, threads: int, preset: str, extra=()) -> None:
    """Make the folder `out` (exit if it exists: results are never overwritten) and fill the JIT cache
    with a 2-iteration run of the same command (not counted, removed)."""
    if out.exists():
        sys.exit(f"{out} exists; move it away first (results are never overwritten)")
    out.mkdir(parents=True)
    warm = out / "warmup"
    train(game, warm, 12345, threads, preset, [*extra, "--iterations", "2"])
    shutil.rmtree(warm)


def study_args(preset: str, out: str) -> argparse.Namespace:
    """The options every per-seed study takes: --seeds, --threads, --preset and --out (defaults given)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--preset", default=preset)
    ap.add_argument("--out", default=out)
    return ap.parse_args()
