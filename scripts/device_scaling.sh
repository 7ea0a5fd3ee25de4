#!/usr/bin/env bash
# Thread scaling on a machine with more cores than this 2-core one (the lent 16-core device machine),
# run from the repository root with the machine's own Python, Numba and SciPy (no numbaplay install):
#
#     OUT=/some/folder bash scripts/device_scaling.sh
#
# Each benchmark is its own process with its own time limit, so one failure leaves the others' JSON.
# Everything it prints goes to $OUT/log.txt; the JSON files are copied into results/bench/ by hand,
# with the suffix _16cores.
set -u
: "${OUT:?set OUT to the output folder}"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg NUMBA_CACHE_DIR=/tmp/numbaplay-cache
exec > >(tee -a "$OUT/log.txt") 2>&1
echo "== machine"; date -u; uptime; nproc; python3 -V
python3 -c "import numba, numpy, scipy; print('numba', numba.__version__, 'numpy', numpy.__version__, 'scipy', scipy.__version__)"
grep -m1 "model name" /proc/cpuinfo
n=$(nproc); [ "$n" -gt 16 ] && n=16
run() { local limit=$1; shift; echo "== $*"; local t0=$SECONDS; timeout "$limit" python3 "$@"; echo "rc $? in $((SECONDS - t0)) s"; }
run 200 benchmarks/bench_threads.py --preset c4-seed --repeats 10 --max-threads "$n" \
    --out "$OUT/threads_c4-seed_16cores.json"
run 80 benchmarks/bench_threads.py --preset tictactoe --repeats 10 --max-threads "$n" \
    --out "$OUT/threads_tictactoe_16cores.json"
run 50 benchmarks/bench_c4_playouts.py --games 20000 --repeats 5 --threads "$n" \
    --out "$OUT/c4_playouts_16cores.json"
run 200 benchmarks/bench_update_scaling.py --preset c4-seed --repeats 3 --steps 20 --max-threads "$n" \
    --out "$OUT/update_scaling_c4-seed_16cores.json"
echo "== done"; uptime
