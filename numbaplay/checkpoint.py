"""Checkpoints: one `.npz` (no pickle) holding everything needed to resume or evaluate a run.

Arrays: `params` float32[P], `adam_m`, `adam_v` float32[P], `adam_t` int64[1], `spec` int64[5],
`pool` float32[n_pool, P], `meta` (UTF-8 JSON as uint8: format, version, game, iteration, config).
`iteration` is the number of completed iterations, which is also the next iteration's RNG counter.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from numbaplay.errors import CheckpointError

FORMAT = "numbaplay-checkpoint"
VERSION = 1
_KEYS = ("params", "adam_m", "adam_v", "adam_t", "spec", "pool", "meta")


def save(path: str | Path, *, params, adam_m, adam_v, adam_t, spec, pool, game, iteration, config) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    meta = {"format": FORMAT, "version": VERSION, "game": game, "iteration": int(iteration),
            "config": config}
    buf = io.BytesIO()
    np.savez(buf, params=np.asarray(params, np.float32), adam_m=np.asarray(adam_m, np.float32),
             adam_v=np.asarray(adam_v, np.float32), adam_t=np.array([adam_t], np.int64),
             spec=np.asarray(spec, np.int64), pool=np.asarray(pool, np.float32),
             meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | Path, game: str | None = None) -> dict:
    """Read and validate a checkpoint; CheckpointError naming the problem otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and suggest loading it unsafely
        raise CheckpointError(f"{str(path)!r} is not a numbaplay checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise CheckpointError(f"{str(path)!r} is not a numbaplay checkpoint (missing {missing[0]!r})")
            arrays = {k: data[k] for k in _KEYS}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{str(path)!r} is not a readable checkpoint ({exc})") from None
    try:
        meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{str(path)!r}: corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a numbaplay checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{str(path)!r}: checkpoint version {meta.get('version')} is not supported "
                              f"(expected {VERSION})")
    if game is not None and meta.get("game") != game:
        raise CheckpointError(f"{str(path)!r} is a {meta.get('game')} checkpoint, not {game}")
    from numbaplay.nn.params import NetSpec, n_params

    spec_arr = arrays["spec"]
    try:
        spec = NetSpec.from_array(spec_arr)
        size = n_params(spec)
    except Exception:
        raise CheckpointError(f"{str(path)!r}: invalid network spec {spec_arr.tolist()}") from None
    for key in ("params", "adam_m", "adam_v"):
        if arrays[key].dtype != np.float32 or arrays[key].shape != (size,):
            raise CheckpointError(f"{str(path)!r}: {key} has shape {arrays[key].shape}, expected ({size},)")
    if arrays["pool"].ndim != 2 or arrays["pool"].shape[1] != size or arrays["pool"].shape[0] < 1:
        raise CheckpointError(f"{str(path)!r}: pool has shape {arrays['pool'].shape}")
    if not np.all(np.isfinite(arrays["params"])):
        raise CheckpointError(f"{str(path)!r}: parameters contain NaN or infinity")
    return {**arrays, "meta": meta, "spec_obj": spec, "adam_t": int(arrays["adam_t"][0])}
