"""Checkpoints: one `.npz` (no pickle) holding everything needed to resume or evaluate a run.

Arrays: `params` float32[P], `adam_m`, `adam_v` float32[P], `adam_t` int64[1], `spec` int64[5],
`pool` float32[n_pool, P], `meta` (UTF-8 JSON as uint8: format, version, game, iteration, config).
`iteration` is the number of completed iterations, which is also the next iteration's RNG counter.
"""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from numbaplay.errors import CheckpointError
from numbaplay.fileio import write_atomic

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
    write_atomic(path, buf.getvalue())


def load(path: str | Path, game: str | None = None) -> dict:
    """Read and validate a checkpoint; CheckpointError naming the problem otherwise.

    Checks everything a reader relies on: the archive and its arrays (kind, dtype, shape), the metadata
    (format, version, a known game, a non-negative integer iteration, a config mapping that is a valid
    configuration for this network and game), that the network's input and action sizes are the game's,
    and that parameters, moments and pool are finite (the second moment non-negative)."""
    path = Path(path)
    name = repr(str(path))
    if not path.is_file():
        raise CheckpointError(f"checkpoint {name} does not exist or is not a file")
    if not zipfile.is_zipfile(path):  # np.load would try it as a pickle and suggest loading it unsafely
        raise CheckpointError(f"{name} is not a numbaplay checkpoint (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _KEYS if k not in data.files]
            if missing:
                raise CheckpointError(f"{name} is not a numbaplay checkpoint (missing {missing[0]!r})")
            arrays = {k: data[k] for k in _KEYS}
    except CheckpointError:
        raise
    except Exception as exc:  # a damaged zip, a member that is not a .npy array, ...
        raise CheckpointError(f"{name} is not a readable checkpoint ({type(exc).__name__}: "
                              f"{' '.join(str(exc).split())[:200]})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):
            raise CheckpointError(f"{name} is not a numbaplay checkpoint ({key!r} is not an array)")
    meta = _meta(arrays["meta"], name, game)
    from numbaplay.games.core import get_game
    from numbaplay.nn.params import NetSpec, n_params

    spec_arr = arrays["spec"]
    try:
        if spec_arr.dtype.kind not in "iu" or spec_arr.shape != (5,):
            raise ValueError
        spec = NetSpec.from_array(spec_arr)
        size = n_params(spec)
        if min(spec.obs_size, spec.hidden, spec.depth, spec.n_actions) < 1:
            raise ValueError
    except Exception:
        raise CheckpointError(f"{name}: invalid network spec {spec_arr.tolist()}") from None
    g = get_game(meta["game"])
    if (spec.obs_size, spec.n_actions) != (g.obs_size, g.n_actions):
        raise CheckpointError(f"{name}: its network takes {spec.obs_size} inputs and gives {spec.n_actions} "
                              f"moves, but {g.name} has {g.obs_size} inputs and {g.n_actions} moves")
    pool_shape = arrays["pool"].shape
    for key in ("params", "adam_m", "adam_v", "pool"):
        if arrays[key].dtype != np.float32:
            raise CheckpointError(f"{name}: {key} is {arrays[key].dtype}, expected float32")
        if key != "pool" and arrays[key].shape != (size,):
            raise CheckpointError(f"{name}: {key} has shape {arrays[key].shape}, expected ({size},)")
        if key == "pool" and (len(pool_shape) != 2 or pool_shape[0] < 1 or pool_shape[1] != size):
            raise CheckpointError(f"{name}: pool has shape {pool_shape}, expected (n, {size}) with n >= 1")
        if not np.all(np.isfinite(arrays[key])):
            raise CheckpointError(f"{name}: {key} contains NaN or infinity")
    if np.any(arrays["adam_v"] < 0):
        raise CheckpointError(f"{name}: adam_v has negative entries")
    t = arrays["adam_t"]
    if t.dtype.kind not in "iu" or t.shape != (1,) or int(t[0]) < 0:
        raise CheckpointError(f"{name}: adam_t must be one non-negative integer, got {t.dtype} {t.shape}")
    _check_config(meta, spec, name)
    return {**arrays, "meta": meta, "spec_obj": spec, "adam_t": int(t[0])}


def _meta(raw: np.ndarray, name: str, game: str | None) -> dict:
    """The metadata mapping, checked: format, version, game, iteration, config."""
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{name}: corrupt metadata") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a numbaplay checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{name}: checkpoint version {meta.get('version')!r} is not supported "
                              f"(expected {VERSION})")
    from numbaplay.games.core import GAMES

    if not isinstance(meta.get("game"), str) or meta["game"] not in GAMES:
        raise CheckpointError(f"{name}: metadata names no known game ({meta.get('game')!r})")
    if game is not None and meta["game"] != game:
        raise CheckpointError(f"{name} is a {meta['game']} checkpoint, not {game}")
    it = meta.get("iteration")
    if isinstance(it, bool) or not isinstance(it, int) or it < 0:
        raise CheckpointError(f"{name}: metadata 'iteration' must be a non-negative integer, got {it!r}")
    if "config" in meta and meta["config"] is not None and not isinstance(meta["config"], dict):
        raise CheckpointError(f"{name}: metadata 'config' is not a mapping")
    return meta


def network_config(meta: dict, spec) -> dict:
    """The checkpoint's training configuration with its game and network keys as the checkpoint holds
    them (a configuration that lists only some keys takes the others from the checkpoint itself)."""
    return {**(meta.get("config") or {}), "game": meta["game"], "arch": spec.arch, "hidden": spec.hidden,
            "depth": spec.depth}


def _check_config(meta: dict, spec, name: str) -> None:
    """The training configuration, where the checkpoint has one: valid, and naming this game and this
    network wherever it names them."""
    cfg = meta.get("config")
    if cfg is None:
        return
    from numbaplay.config import from_dict
    from numbaplay.errors import ConfigError

    own = network_config(meta, spec)
    clash = [k for k in ("game", "arch", "hidden", "depth") if k in cfg and cfg[k] != own[k]]
    if clash:
        raise CheckpointError(f"{name}: metadata 'config' has {', '.join(f'{k}={cfg[k]!r}' for k in clash)}, but "
                              f"the checkpoint is {own['game']} {own['arch']} {own['hidden']}x{own['depth']}")
    try:
        from_dict(own)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"{name}: metadata 'config' is not a valid configuration ({exc})") from None
