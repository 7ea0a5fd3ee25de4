"""Network specs and the flat parameter vector (SPEC section 3).

A network is one flat float32 vector; `layout(spec)` is its (name, shape, offset) table, shared by
gradients, Adam moments, checkpoints and the C reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from numbaplay.errors import ConfigError
from numbaplay.rng import INIT, key_uniform, stream_key

MLP = 0
RESMLP = 1
ARCHS = {"mlp": MLP, "resmlp": RESMLP}

# Kinds of tensors for initialisation.
_UNIFORM, _ONES, _ZEROS, _POLICY_W = 0, 1, 2, 3


@dataclass(frozen=True)
class NetSpec:
    """Architecture of a policy-value network."""

    arch: str
    """'mlp' (ReLU layers) or 'resmlp' (pre-norm residual GELU blocks)."""
    obs_size: int
    """Input width: 2 x cells (SPEC section 2)."""
    hidden: int
    """Width H of every hidden layer."""
    depth: int
    """Number L of hidden layers (mlp) or of input + residual layers (resmlp)."""
    n_actions: int
    """Policy head size A."""

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ConfigError(f"unknown architecture {self.arch!r}; choose mlp or resmlp")
        if self.hidden < 1 or self.depth < 1:
            raise ConfigError(f"hidden and depth must be >= 1, got {self.hidden} and {self.depth}")

    def array(self) -> np.ndarray:
        """int64[5]: (arch id, obs_size, H, L, A), the form kernels take."""
        return np.array([ARCHS[self.arch], self.obs_size, self.hidden, self.depth, self.n_actions],
                        dtype=np.int64)

    @classmethod
    def from_array(cls, arr) -> NetSpec:
        arch = {v: k for k, v in ARCHS.items()}[int(arr[0])]
        return cls(arch, int(arr[1]), int(arr[2]), int(arr[3]), int(arr[4]))


def layout(spec: NetSpec) -> list[tuple[str, tuple[int, ...], int]]:
    """The (name, shape, offset) table, in flat-vector order."""
    hid, inp, act = spec.hidden, spec.obs_size, spec.n_actions
    shapes: list[tuple[str, tuple[int, ...]]] = []
    if spec.arch == "mlp":
        for k in range(spec.depth):
            shapes += [(f"fc{k}.W", (hid, inp if k == 0 else hid)), (f"fc{k}.b", (hid,))]
    else:
        shapes += [("in.W", (hid, inp)), ("in.b", (hid,))]
        for k in range(1, spec.depth):
            shapes += [(f"blk{k}.ln.g", (hid,)), (f"blk{k}.ln.b", (hid,)),
                       (f"blk{k}.W", (hid, hid)), (f"blk{k}.b", (hid,))]
        shapes += [("out_ln.g", (hid,)), ("out_ln.b", (hid,))]
    shapes += [("pi.W", (act, hid)), ("pi.b", (act,)), ("v.W", (1, hid)), ("v.b", (1,))]
    table, offset = [], 0
    for name, shape in shapes:
        table.append((name, shape, offset))
        offset += int(np.prod(shape))
    return table


def offsets(spec: NetSpec) -> np.ndarray:
    """int64[n_tensors + 1]: start of every tensor in layout order, then the total size."""
    table = layout(spec)
    return np.array([off for _, _, off in table] + [n_params(spec)], dtype=np.int64)


def n_params(spec: NetSpec) -> int:
    name, shape, off = layout(spec)[-1]
    return off + int(np.prod(shape))


def unflatten(spec: NetSpec, flat: np.ndarray) -> dict[str, np.ndarray]:
    """Views of the flat vector, one per named tensor."""
    return {name: flat[off:off + int(np.prod(shape))].reshape(shape) for name, shape, off in layout(spec)}


@njit(cache=True)
def _init_kernel(out, starts, sizes, kinds, bounds, seed):
    """Fill out (float32[P]): the parameter at offset i takes uniform draw i of the INIT stream."""
    key = stream_key(np.uint64(seed), INIT, 0, 0)
    for t in range(starts.shape[0]):
        for j in range(sizes[t]):
            i = starts[t] + j
            if kinds[t] == _ONES:
                out[i] = 1.0
            elif kinds[t] == _ZEROS:
                out[i] = 0.0
            else:
                u = key_uniform(key, i)
                out[i] = np.float32((2.0 * u - 1.0) * bounds[t])
                if kinds[t] == _POLICY_W:
                    out[i] = out[i] * np.float32(0.01)


def init_params(spec: NetSpec, seed: int) -> np.ndarray:
    """SPEC section 3 initialisation from the INIT stream of `seed`."""
    table = layout(spec)
    starts, sizes, kinds, bounds = [], [], [], []
    fan_in = spec.obs_size
    for name, shape, off in table:
        if name.endswith(".W"):
            fan_in = shape[1]
        if ".ln." in name or name.startswith("out_ln"):
            kind = _ONES if name.endswith(".g") else _ZEROS
        elif name in ("pi.b", "v.b"):
            kind = _ZEROS
        elif name == "pi.W":
            kind = _POLICY_W
        else:
            kind = _UNIFORM
        starts.append(off)
        sizes.append(int(np.prod(shape)))
        kinds.append(kind)
        bounds.append(1.0 / np.sqrt(fan_in))
    out = np.zeros(n_params(spec), dtype=np.float32)
    _init_kernel(out, np.array(starts, np.int64), np.array(sizes, np.int64), np.array(kinds, np.int64),
                 np.array(bounds, np.float64), np.uint64(seed))
    return out
