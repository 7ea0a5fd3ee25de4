"""Eight-lane sums as LLVM vector code, bit for bit the scalar eight-accumulator loops they replace.

`_dot8` (LayerNorm statistics, the value head) and `chunk_sumsq` (the gradient norm) keep eight
independent sums, term j going to sum j mod 8 in index order (docs/ALGORITHM.md, "Parallel work").
Written as eight scalars they run one term per instruction: Numba turns LLVM's SLP vectoriser off, and
the loop vectoriser may not reorder a floating-point sum. Here the eight sums are the lanes of one
vector register, so each group of eight terms is one vector multiply and one vector add, with no
fused multiply-add (no fast-math flags): every lane computes exactly what its scalar did.
"""
import numpy as np
from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

_LANES = 8
_F32 = ir.FloatType()
_F64 = ir.DoubleType()
_I32 = ir.IntType(32)


def _is_c_vector(ty, dtype) -> bool:
    return isinstance(ty, types.Array) and ty.ndim == 1 and ty.layout == "C" and ty.dtype == dtype


def _lane_loop(context, builder, end, step_fn, acc_type):
    """acc = 0; for i in 0, 8, ..., end - 8: acc = step_fn(acc, i); returns the lanes as scalars."""
    intp = context.get_value_type(types.intp)
    acc = cgutils.alloca_once_value(builder, ir.Constant(acc_type, [0.0] * _LANES))
    with cgutils.for_range_slice(builder, ir.Constant(intp, 0), end, ir.Constant(intp, _LANES)) as (i, _):
        builder.store(step_fn(builder.load(acc), i), acc)
    total = builder.load(acc)
    return [builder.extract_element(total, ir.Constant(_I32, lane)) for lane in range(_LANES)]


def _load8(builder, data, i, vec_type):
    return builder.load(builder.bitcast(builder.gep(data, [i]), vec_type.as_pointer()), align=4)


@intrinsic
def lane_dot(typingctx, a, b, end):
    """The eight float32 sums s_l = sum of a[j] b[j] over j < end, j mod 8 == l, in index order.
    a, b: float32[:] C-contiguous; end: a multiple of 8, at most their length."""
    if not (_is_c_vector(a, types.float32) and _is_c_vector(b, types.float32)
            and isinstance(end, types.Integer)):
        return None
    sig = types.UniTuple(types.float32, _LANES)(a, b, end)
    vec = ir.VectorType(_F32, _LANES)

    def codegen(context, builder, signature, args):
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        xb = context.make_array(signature.args[1])(context, builder, args[1])
        stop = context.cast(builder, args[2], signature.args[2], types.intp)

        def step(acc, i):
            return builder.fadd(acc, builder.fmul(_load8(builder, xa.data, i, vec), _load8(builder, xb.data, i, vec)))

        lanes = _lane_loop(context, builder, stop, step, vec)
        return context.make_tuple(builder, signature.return_type, lanes)

    return sig, codegen


@intrinsic
def lane_sumsq64(typingctx, g, end):
    """The eight float64 sums s_l = sum of float64(g[j])^2 over j < end, j mod 8 == l, in index order.
    g: float32[:] C-contiguous; end: a multiple of 8, at most its length."""
    if not (_is_c_vector(g, types.float32) and isinstance(end, types.Integer)):
        return None
    sig = types.UniTuple(types.float64, _LANES)(g, end)
    vec32 = ir.VectorType(_F32, _LANES)
    vec64 = ir.VectorType(_F64, _LANES)

    def codegen(context, builder, signature, args):
        xg = context.make_array(signature.args[0])(context, builder, args[0])
        stop = context.cast(builder, args[1], signature.args[1], types.intp)

        def step(acc, i):
            d = builder.fpext(_load8(builder, xg.data, i, vec32), vec64)
            return builder.fadd(acc, builder.fmul(d, d))

        lanes = _lane_loop(context, builder, stop, step, vec64)
        return context.make_tuple(builder, signature.return_type, lanes)

    return sig, codegen


if config.DISABLE_JIT:  # pragma: no cover - NUMBA_DISABLE_JIT=1: plain Python with the same results
    def lane_dot(a, b, end):  # noqa: F811
        sums = [np.float32(0.0)] * _LANES
        for j in range(0, end, _LANES):
            for lane in range(_LANES):
                sums[lane] = np.float32(sums[lane] + np.float32(a[j + lane] * b[j + lane]))
        return tuple(sums)

    def lane_sumsq64(g, end):  # noqa: F811
        sums = [0.0] * _LANES
        for j in range(0, end, _LANES):
            for lane in range(_LANES):
                d = float(g[j + lane])
                sums[lane] += d * d
        return tuple(sums)
