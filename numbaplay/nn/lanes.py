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


def _eight_lane_sum(context, builder, n, vec_term, scalar_term, vec_type):
    """The sum of term(j) for j < n: term j adds to lane j mod 8 in index order (whole groups of eight
    as one vector each, then the tail entry by entry), then the lanes are added in order 0..7.
    vec_term(i) gives the eight terms i..i+7 as a vector; scalar_term(j) gives term j."""
    intp = context.get_value_type(types.intp)
    eight = ir.Constant(intp, _LANES)
    end = builder.mul(builder.sdiv(n, eight), eight)
    acc = cgutils.alloca_once_value(builder, ir.Constant(vec_type, [0.0] * _LANES))
    with cgutils.for_range_slice(builder, ir.Constant(intp, 0), end, eight) as (i, _):
        builder.store(builder.fadd(builder.load(acc), vec_term(i)), acc)
    total = builder.load(acc)
    lanes = [cgutils.alloca_once_value(builder, builder.extract_element(total, ir.Constant(_I32, lane)))
             for lane in range(_LANES)]
    for lane in range(_LANES - 1):  # the tail has at most seven entries
        j = builder.add(end, ir.Constant(intp, lane))
        with builder.if_then(builder.icmp_signed("<", j, n)):
            builder.store(builder.fadd(builder.load(lanes[lane]), scalar_term(j)), lanes[lane])
    out = builder.load(lanes[0])
    for lane in range(1, _LANES):
        out = builder.fadd(out, builder.load(lanes[lane]))
    return out


def _load8(builder, data, i, vec_type):
    return builder.load(builder.bitcast(builder.gep(data, [i]), vec_type.as_pointer()), align=4)


@intrinsic
def dot8(typingctx, a, b):
    """float32 sum of a[j] b[j] over all j: term j adds to accumulator j mod 8 in index order, the eight
    accumulators added in order 0..7. a, b: float32[:] C-contiguous, the same length."""
    if not (_is_c_vector(a, types.float32) and _is_c_vector(b, types.float32)):
        return None
    sig = types.float32(a, b)
    vec = ir.VectorType(_F32, _LANES)

    def codegen(context, builder, signature, args):
        xa = context.make_array(signature.args[0])(context, builder, args[0])
        xb = context.make_array(signature.args[1])(context, builder, args[1])

        def vec_term(i):
            return builder.fmul(_load8(builder, xa.data, i, vec), _load8(builder, xb.data, i, vec))

        def scalar_term(j):
            return builder.fmul(builder.load(builder.gep(xa.data, [j])), builder.load(builder.gep(xb.data, [j])))

        n = cgutils.unpack_tuple(builder, xa.shape, 1)[0]
        return _eight_lane_sum(context, builder, n, vec_term, scalar_term, vec)

    return sig, codegen


@intrinsic
def sumsq8(typingctx, g):
    """float64 sum of float64(g[j])^2 over all j, in the order of `dot8`. g: float32[:] C-contiguous."""
    if not _is_c_vector(g, types.float32):
        return None
    sig = types.float64(g)
    vec32 = ir.VectorType(_F32, _LANES)
    vec64 = ir.VectorType(_F64, _LANES)

    def codegen(context, builder, signature, args):
        xg = context.make_array(signature.args[0])(context, builder, args[0])

        def vec_term(i):
            d = builder.fpext(_load8(builder, xg.data, i, vec32), vec64)
            return builder.fmul(d, d)

        def scalar_term(j):
            d = builder.fpext(builder.load(builder.gep(xg.data, [j])), _F64)
            return builder.fmul(d, d)

        n = cgutils.unpack_tuple(builder, xg.shape, 1)[0]
        return _eight_lane_sum(context, builder, n, vec_term, scalar_term, vec64)

    return sig, codegen


if config.DISABLE_JIT:  # pragma: no cover - NUMBA_DISABLE_JIT=1: plain Python with the same results
    def dot8(a, b):  # noqa: F811
        sums = [np.float32(0.0)] * _LANES
        for j in range(a.shape[0]):
            sums[j % _LANES] = np.float32(sums[j % _LANES] + np.float32(a[j] * b[j]))
        out = sums[0]
        for lane in range(1, _LANES):
            out = np.float32(out + sums[lane])
        return out

    def sumsq8(g):  # noqa: F811
        sums = [0.0] * _LANES
        for j in range(g.shape[0]):
            d = float(g[j])
            sums[j % _LANES] += d * d
        out = sums[0]
        for lane in range(1, _LANES):
            out += sums[lane]
        return out
