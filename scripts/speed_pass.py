"""One measurement pass of every speed figure issue 5 asks for, into a folder of its own.

Runs the profiles, benchmarks, start-up measurements and the Tic-Tac-Toe acceptance runs one after the
other, each writing its JSON under `ROOT/bench/` (start-up under `ROOT/`, acceptance under
`ROOT/ttt_optimal/`), and records in `ROOT/pass.json` the exact command of each step with its start,
wall time, exit status and the load before and after, and the machine it ran on (CPU model, family,
flags). `python scripts/speed_tables.py --root ROOT --markdown` turns the folder into its speed.md.

    python scripts/speed_pass.py --clean-cache --root results/machines/amd-epyc-zen4

A pass takes about 30 minutes on 2 cores. Nothing under `numbaplay/` may change while it runs: the steps
import the working tree. The two PyTorch comparisons need PyTorch in the environment (the install line is
in `benchmarks/bench_torch_vs_numba.py`); a step that fails is recorded with its exit status, the pass goes
on, and the command exits 1 at the end naming it.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from numbaplay.profile.machine import uptime

REPO = Path(__file__).resolve().parents[1]


def cpu_info() -> dict:
    """Model name, vendor, family and model numbers and the vector flags, from /proc/cpuinfo."""
    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if ":" not in line:
                if fields:
                    break  # the first processor is enough
                continue
            key, value = (s.strip() for s in line.split(":", 1))
            fields.setdefault(key, value)
    except OSError:
        return {"model_name": platform.processor() or "unknown"}
    flags = fields.get("flags", "").split()
    return {"model_name": fields.get("model name", "unknown"), "vendor": fields.get("vendor_id"),
            "family": fields.get("cpu family"), "model": fields.get("model"),
            "vector_flags": sorted(f for f in flags if f.startswith(("avx", "fma", "amx"))),
            "logical_cpus": os.cpu_count()}


def steps(root: Path) -> list[tuple[list[str], Path | None]]:
    """(argv after the interpreter, file that receives stdout or None), in the order they run."""
    b = root / "bench"
    prof = ["-m", "numbaplay", "profile"]
    # First: that the kernels on this machine (its BLAS and CPU) still agree with the C reference, tensor by
    # tensor, within SPEC section 8's tolerances, and replay the same games.
    out = [(["-m", "numbaplay", "compare-c", "--game", "all", "--size", "both", "--replays", "10000",
             "--iterations", "0", "--json"], b / "c_vs_numba_parity.json")]
    for args, name in (
            (["tictactoe", "--preset", "ttt-seed", "--skip", "10", "--iterations", "5"], "profile_ttt-seed_skip10"),
            (["connect4", "--preset", "c4-seed", "--iterations", "2"], "profile_c4-seed"),
            (["tictactoe", "--preset", "ttt-seed", "--iterations", "5"], "profile_ttt-seed"),
            (["connect4", "--preset", "c4-seed", "--iterations", "2", "--threads", "1"], "profile_c4-seed_threads1"),
            (["tictactoe", "--skip", "60", "--iterations", "5"], "profile_tictactoe_skip60")):
        out.append(([*prof, *args, "--json"], b / f"{name}.json"))
    for preset in ("tictactoe", "ttt-seed", "c4-seed"):
        out.append((["benchmarks/bench_threads.py", "--preset", preset, "--repeats", "40",
                     "--out", str(b / f"threads_{preset}.json")], None))
    # One process's 2-thread rollouts can run slow for its whole life on a shared machine: the same benchmark in
    # five more processes, and the c4-seed profile in nine more (the update's floor ratio moves the same way).
    # ttt-seed's 512-game rollout is as short and moves as much (1.30x in session 18's pass, 1.74x right after).
    for preset in ("tictactoe", "ttt-seed"):
        out.append((["scripts/threads_repeats.py", "--preset", preset, "--runs", "5", "--repeats", "40",
                     "--out", str(b / f"threads_{preset}_repeats.json")], None))
    out.append((["scripts/profile_repeats.py", "--runs", "9", "--out", str(b / "profile_c4-seed_repeats.json")],
                None))
    out.append((["benchmarks/bench_update_scaling.py", "--preset", "c4-seed", "--repeats", "3", "--steps", "50",
                 "--out", str(b / "update_scaling_c4-seed.json")], None))
    out.append((["benchmarks/bench_update_scaling.py", "--preset", "ttt-seed", "--repeats", "5",
                 "--out", str(b / "update_scaling_ttt-seed.json")], None))
    for preset, repeats, full in (("ttt-seed", "5", "20"), ("c4-seed", "3", "50")):
        base = ["benchmarks/bench_iteration.py", "--preset", preset, "--repeats", repeats, "--threads", "2"]
        out.append(([*base, "--out", str(b / f"iteration_{preset}.json")], None))
        for pool in ("1", full):
            out.append(([*base, "--pool", pool, "--out", str(b / f"iteration_{preset}_pool{pool}.json")], None))
    out.append((["benchmarks/bench_c_vs_numba.py", "--warmup", "1", "--iterations", "5",
                 "--out", str(b / "c_vs_numba.json")], None))
    out.append((["NUMBAPLAY_BLAS=openblas", "benchmarks/bench_c_vs_numba.py", "--warmup", "1", "--iterations", "5",
                 "--out", str(b / "c_vs_numba_openblas.json")], None))
    out.append((["benchmarks/bench_torch_vs_numba.py", "--rounds", "8", "--iterations", "ttt-seed=5", "c4-seed=3",
                 "--out", str(b / "torch_vs_numba.json")], None))
    out.append((["benchmarks/bench_torch_vs_numba.py", "--full-pool", "--rounds", "4", "--iterations", "ttt-seed=5",
                 "c4-seed=3", "--out", str(b / "torch_vs_numba_fullpool.json")], None))
    out.append((["scripts/measure_startup.py", "--repeats", "3", "--out", str(root / "startup.json")], None))
    out.append((["scripts/measure_startup.py", "--repeats", "3", "--preset", "connect4",
                 "--out", str(root / "startup_connect4_1024games.json")], None))
    out.append((["benchmarks/bench_games_scaling.py", "--preset", "ttt-seed", "--games", "64,128,256,512,1024,2048",
                 "--repeats", "3", "--threads", "2", "--out", str(b / "games_scaling_ttt-seed.json")], None))
    out.append((["benchmarks/bench_games_scaling.py", "--preset", "c4-seed", "--games", "128,256,512,1024,2048,4096",
                 "--repeats", "3", "--threads", "2", "--out", str(b / "games_scaling_c4-seed.json")], None))
    out.append((["benchmarks/bench_blas.py", "--rounds", "3", "--out", str(b / "blas_backends.json")], None))
    out.append((["benchmarks/bench_update_breakdown.py", "--preset", "c4-seed", "--rounds", "7", "--threads", "2",
                 "--reps", "200", "--out", str(b / "update_breakdown_c4-seed.json")], None))
    out.append((["benchmarks/bench_update_shards.py", "--preset", "c4-seed", "--shards", "2,4,8", "--counts", "1,2",
                 "--repeats", "5", "--out", str(b / "update_shards_c4-seed.json")], None))
    out.append((["benchmarks/bench_c4_playouts.py", "--games", "50000", "--repeats", "5", "--threads", "2",
                 "--out", str(b / "c4_playouts.json")], None))
    out.append((["scripts/ttt_acceptance.py", "--seeds", "0", "1", "2", "3", "4", "--threads", "2",
                 "--out", str(root / "ttt_optimal")], None))
    return out


def split_env(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """A step's leading `NAME=value` settings (environment variables, upper case) and its arguments."""
    env = dict(a.split("=", 1) for a in argv if "=" in a and a.split("=", 1)[0].isupper())
    return env, [a for a in argv if a.split("=", 1)[0] not in env]


def shown(argv: list[str], stdout: Path | None) -> str:
    """The step as a person would type it from the repository root."""
    env, rest = split_env(argv)
    cmd = " ".join([f"{k}={v}" for k, v in env.items()]
                   + (["numbaplay", *rest[2:]] if rest[:2] == ["-m", "numbaplay"] else ["python", *rest]))
    return cmd + (f" > {stdout}" if stdout else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="Folder for this pass (created; steps overwrite their files).")
    ap.add_argument("--only", nargs="*", default=None, help="Run only the steps whose command contains one of these.")
    ap.add_argument("--previous", default=None,
                    help="An earlier pass folder to set beside this one on its page (default: results/).")
    ap.add_argument("--clean-cache", action="store_true",
                    help="Delete the package's Numba cache first (as `make clean-cache`), so that the first steps "
                         "compile from scratch.")
    args = ap.parse_args()
    cache_files = [p for p in (REPO / "numbaplay").rglob("*") if p.suffix in (".nbi", ".nbc")]
    if args.clean_cache:
        for p in cache_files:
            p.unlink()
    root = Path(args.root).resolve()
    (root / "bench").mkdir(parents=True, exist_ok=True)
    record_file = root / "pass.json"
    record = json.loads(record_file.read_text()) if args.only and record_file.exists() else {}
    record.update({"command": "python scripts/speed_pass.py --root " + os.path.relpath(root, REPO)
                   + (f" --previous {args.previous}" if args.previous else ""),
                   "cpu": cpu_info(), "python": platform.python_version()})
    done = {s["command"]: s for s in record.get("steps", [])}
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    commit = git.stdout.strip()
    if not args.only:  # the pass's commit and start; a step run again with --only records its own commit
        record["commit"] = commit
        record["started"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record["numba_cache_files_at_start"] = 0 if args.clean_cache else len(cache_files)
        if args.previous:
            if not (Path(args.previous) / "pass.json").exists():
                sys.exit(f"--previous {args.previous}: no pass.json there")
            record["previous"] = os.path.relpath(Path(args.previous).resolve(), REPO)
    todo = steps(Path(os.path.relpath(root, REPO)))  # paths as typed from the repository root, where steps run
    order = [shown(argv, stdout) for argv, stdout in todo]
    for i, ((argv, stdout), cmd) in enumerate(zip(todo, order), 1):
        if args.only and not any(s in cmd for s in args.only):
            continue
        settings, rest = split_env(argv)
        env, real = {**os.environ, **settings}, [sys.executable, *rest]
        before, t0 = uptime(), time.perf_counter()
        print(f"[{i}/{len(todo)}] {cmd}", file=sys.stderr, flush=True)
        log = root / "logs" / f"step{i:02d}.log"  # progress bars and errors; not kept in git
        log.parent.mkdir(exist_ok=True)
        with open(log, "w") as err:
            sink = open(REPO / stdout, "w") if stdout else err
            rc = subprocess.run(real, cwd=REPO, env=env, stdout=sink, stderr=err).returncode
            if stdout:
                sink.close()
        done[cmd] = {"command": cmd, "rc": rc, "wall_s": round(time.perf_counter() - t0, 1),
                     "uptime_before": before, "uptime_after": uptime(), "commit": commit}
        print(f"    rc {rc}, {done[cmd]['wall_s']} s", file=sys.stderr, flush=True)
        record["steps"] = sorted(done.values(), key=lambda s: order.index(s["command"]) if s["command"] in order
                                 else len(order))
        record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        record_file.write_text(json.dumps(record, indent=1) + "\n")
    failed = [s["command"] for s in record.get("steps", []) if s["rc"] != 0]
    for cmd in failed:
        print(f"failed: {cmd}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
