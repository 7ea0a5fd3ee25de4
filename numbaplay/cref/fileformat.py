"""The numbaplay tensor file, shared by the C reference and Python (docs/FILEFORMAT.md).

Little-endian, no padding, in the style of llm.c's checkpoints::

    magic     8 bytes  b"NBPLAY\\x00\\x01"
    version   u32      1
    n_tensors u32
    n_tensors records:
        name_len u32 (1..255), name (UTF-8, no NUL), dtype u32, ndim u32 (0..4), dims u64[ndim],
        data (product of dims elements, C order)

dtype codes: 1 f32, 2 f64, 3 i32, 4 i64, 5 u8. The reader checks every length against the bytes that
remain, so a truncated, corrupted or foreign file raises `CReferenceError` with one line, never an
IndexError or a silent short read. `INPUTS` lists the tensors each mode of `numbaplay_c` reads, and
`prepare_case` turns a dict of Python values into exactly those dtypes and ranks.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from numbaplay.errors import CReferenceError

MAGIC = b"NBPLAY\x00\x01"
VERSION = 1
MAX_NDIM = 4
MAX_NAME = 255
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("<i8"),
    5: np.dtype("u1"),
}
_NP = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "u8": np.uint8}

# name -> (dtype, ndim) of what `numbaplay_c <mode>` reads (docs/FILEFORMAT.md describes each).
_MODEL = {"game": ("i32", 0), "net.spec": ("i64", 1)}
INPUTS: dict[str, dict[str, tuple[str, int]]] = {
    "kernels": {
        **_MODEL,
        "init.seed": ("i64", 0),
        "params": ("f32", 1),
        "batch.obs": ("f32", 2), "batch.mask": ("u8", 2), "batch.action": ("i32", 1),
        "batch.logp_old": ("f32", 1), "batch.adv": ("f32", 1), "batch.ret": ("f32", 1),
        "cfg.clip_eps": ("f64", 0), "cfg.vf_coef": ("f64", 0), "cfg.ent_coef": ("f64", 0),
        "cfg.max_grad_norm": ("f64", 0), "cfg.lr": ("f64", 0),
        "adam.m": ("f32", 1), "adam.v": ("f32", 1), "adam.t": ("i64", 0),
        "gae.reward": ("f32", 1), "gae.value": ("f32", 1), "gae.done": ("u8", 1),
        "cfg.gamma": ("f64", 0), "cfg.lam": ("f64", 0),
        "replay.moves": ("i32", 2), "replay.length": ("i32", 1),
        "rng.seed": ("i64", 0), "rng.stream": ("i64", 1), "rng.count": ("i64", 0),
    },
    "train": {
        **_MODEL,
        "params": ("f32", 1),
        **{f"cfg.{k}": ("f64", 0) for k in ("gamma", "lam", "clip_eps", "vf_coef", "ent_coef",
                                            "max_grad_norm", "lr", "lr_min", "opp_temperature",
                                            "draw_reward", "ent_coef_min")},
        **{f"cfg.{k}": ("i64", 0) for k in ("epochs", "games_per_iter", "batch_size", "lr_schedule",
                                            "iterations", "pool_size", "snapshot_interval", "seed",
                                            "n_iterations", "ent_schedule", "random_opening_plies")},
    },
}
_SEED_KEYS = {"init.seed", "rng.seed", "cfg.seed"}  # uint64 seeds travel as their int64 bit pattern


def _fail(path, message: str):
    raise CReferenceError(f"{path}: {message}")


def _code(dtype: np.dtype) -> int | None:
    """The file's dtype code for a NumPy dtype of any byte order, or None."""
    for code, known in DTYPES.items():
        if dtype.kind == known.kind and dtype.itemsize == known.itemsize:
            return code
    return None


def encode(tensors: dict[str, np.ndarray]) -> bytes:
    """The file bytes for `tensors` (in dict order)."""
    parts = [MAGIC, struct.pack("<II", VERSION, len(tensors))]
    for name, value in tensors.items():
        arr = np.asarray(value)
        if arr.dtype == np.bool_:
            arr = arr.astype(np.uint8)
        code = _code(arr.dtype)
        if code is None:
            raise CReferenceError(f"tensor {name!r}: dtype {arr.dtype} is not one of f32, f64, i32, i64, u8")
        raw = name.encode("utf-8")
        if not 1 <= len(raw) <= MAX_NAME or b"\x00" in raw:
            raise CReferenceError(f"tensor name {name!r} must be 1..{MAX_NAME} UTF-8 bytes without NUL")
        if arr.ndim > MAX_NDIM:
            raise CReferenceError(f"tensor {name!r} has {arr.ndim} dims (at most {MAX_NDIM})")
        data = np.array(arr, dtype=DTYPES[code], order="C")
        parts += [struct.pack("<I", len(raw)), raw, struct.pack("<II", code, arr.ndim),
                  struct.pack(f"<{arr.ndim}Q", *arr.shape), data.tobytes()]
    return b"".join(parts)


def decode(buf: bytes, path="<bytes>") -> dict[str, np.ndarray]:
    """Parse and validate file bytes; CReferenceError with one line on anything malformed."""
    n_bytes = len(buf)
    if n_bytes < 16:
        _fail(path, f"truncated header ({n_bytes} bytes, need 16)")
    if buf[:8] != MAGIC:
        _fail(path, "not a numbaplay tensor file (bad magic)")
    version, count = struct.unpack_from("<II", buf, 8)
    if version != VERSION:
        _fail(path, f"unsupported version {version} (expected {VERSION})")
    if count > (n_bytes - 16) // 13:
        _fail(path, f"header says {count} tensors but only {n_bytes - 16} bytes follow it (truncated?)")
    pos, out = 16, {}
    for i in range(count):
        if n_bytes - pos < 4:
            _fail(path, f"truncated at tensor {i} name length (offset {pos})")
        (name_len,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if not 1 <= name_len <= MAX_NAME:
            _fail(path, f"tensor {i} has name length {name_len} (must be 1..{MAX_NAME})")
        if n_bytes - pos < name_len:
            _fail(path, f"truncated in tensor {i} name (offset {pos})")
        raw = bytes(buf[pos:pos + name_len])
        pos += name_len
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            _fail(path, f"tensor {i} name is not valid UTF-8")
        if "\x00" in name:
            _fail(path, f"tensor {i} name is not valid UTF-8")
        if name in out:
            _fail(path, f"duplicate tensor '{name}'")
        if n_bytes - pos < 8:
            _fail(path, f"truncated in tensor '{name}' header")
        code, ndim = struct.unpack_from("<II", buf, pos)
        pos += 8
        if code not in DTYPES:
            _fail(path, f"tensor '{name}' has unknown dtype {code}")
        if ndim > MAX_NDIM:
            _fail(path, f"tensor '{name}' has ndim {ndim} (at most {MAX_NDIM})")
        if (n_bytes - pos) // 8 < ndim:
            _fail(path, f"truncated in tensor '{name}' dims")
        dims = struct.unpack_from(f"<{ndim}Q", buf, pos)
        pos += 8 * ndim
        dtype = DTYPES[code]
        size = 0 if 0 in dims else int(np.prod(dims, dtype=object))
        if size * dtype.itemsize > n_bytes - pos:
            _fail(path, f"tensor '{name}' needs {size} x {dtype.itemsize} bytes but only {n_bytes - pos} "
                        "remain (truncated?)")
        data = np.frombuffer(buf, dtype=dtype, count=size, offset=pos).copy()
        out[name] = data.astype(dtype.newbyteorder("=")).reshape(dims)
        pos += size * dtype.itemsize
    if pos != n_bytes:
        _fail(path, f"{n_bytes - pos} trailing bytes after the last tensor")
    return out


def write_tensors(path, tensors: dict[str, np.ndarray]) -> None:
    """Write `tensors` to `path` (replaced atomically: a temporary file beside it, then a rename)."""
    path = Path(path)
    data = encode(tensors)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_tensors(path) -> dict[str, np.ndarray]:
    """All tensors of the file at `path`, by name, in file order."""
    try:
        buf = Path(path).read_bytes()
    except OSError as exc:
        raise CReferenceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return decode(buf, path)


def prepare_case(mode: str, case: dict) -> dict[str, np.ndarray]:
    """The tensors of a `numbaplay_c <mode>` input: values cast to the dtypes `INPUTS` lists.

    Integer tensors must hold integers in their dtype's range; seeds may be any uint64 (stored as their
    int64 bit pattern); a name the mode does not read, or a value of the wrong rank, raises
    CReferenceError.
    """
    if mode not in INPUTS:
        raise CReferenceError(f"unknown mode {mode!r}; choose {' or '.join(INPUTS)}")
    schema, out = INPUTS[mode], {}
    for name, value in case.items():
        if name not in schema:
            raise CReferenceError(f"{mode} input has no tensor {name!r}")
        short, ndim = schema[name]
        if name in _SEED_KEYS:
            seed = int(value)
            if not 0 <= seed < 2**64 and not -(2**63) <= seed < 0:
                raise CReferenceError(f"{name} = {seed} does not fit in 64 bits")
            arr = np.array(seed % 2**64, dtype=np.uint64).view(np.int64)
        else:
            src = np.asarray(value)
            if src.dtype.kind not in "biuf":
                raise CReferenceError(f"{name} must be numeric, got {src.dtype}")
            with np.errstate(invalid="ignore", over="ignore"):
                arr = src.astype(_NP[short])
            if short not in ("f32", "f64") and not np.array_equal(arr, src):
                raise CReferenceError(f"{name} must hold integers that fit in {short}")
        if arr.ndim != ndim:
            raise CReferenceError(f"{name} must have {ndim} dims, got shape {arr.shape}")
        out[name] = np.array(arr, order="C")
    return out
