#!/usr/bin/env bash
# The c4-seed update at several `update_shards` side by side on the lent 16-core machine, with the
# machine's own Python, Numba and SciPy (no numbaplay install), from the repository root:
#
#     OUT=/some/folder bash scripts/device_update_shards.sh
#
# The JSON file is copied into results/bench/device_16cores/ by hand.
set -u
: "${OUT:?set OUT to the output folder}"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numbaplay-cache
exec > >(tee -a "$OUT/log.txt") 2>&1
date -u; uptime; nproc
python3 benchmarks/bench_update_shards.py --preset c4-seed --shards 2,4,8 --counts 1,2,4,8,16 --repeats 2 \
    --out "$OUT/update_shards_c4-seed_16cores.json"
echo "rc $?"; date -u; uptime
