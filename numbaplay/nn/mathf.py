"""Float32 elementary functions that LLVM can vectorise, written with explicit fused multiply-adds.

`fma32(a, b, c)` is a * b + c rounded once (LLVM's `llvm.fma.f32`: one instruction on x86-64 with FMA,
exactly rounded everywhere). Without fast-math Numba never fuses a multiply and an add by itself; the
kernels call `fma32` where a fused step is wanted, and `c_reference/nn.c` calls C's `fmaf` at the same
places, so both round alike.

Numba lowers `np.exp` on a float32 to a scalar `expf` call (no vector math library is linked), so a loop
of GELUs ran one exponential at a time. `exp32` is Cephes' `expf` written as straight-line float32
arithmetic: clamp, n = round(x log2(e)), a two-constant Cody-Waite reduction, a degree-6 polynomial by
Horner's rule, then scale by 2^n built from its exponent bits; every multiply-add of the reduction and the
polynomial is one `fma32`. Error below 1 ulp on [-87, 87] (tests/test_kernels.py); inputs outside are
clamped, so it never returns inf, 0 or a subnormal (exp32(-100) = exp(-87)).
"""
import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_LO = np.float32(-87.0)
_HI = np.float32(87.0)


@intrinsic
def _bits_to_float32(typingctx, bits):
    """Reinterpret an int32 as the float32 with the same bits."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


if config.DISABLE_JIT:  # pragma: no cover - plain Python with the same bits
    def _bits_to_float32(bits):  # noqa: F811
        return np.array([bits], np.int32).view(np.float32)[0]


@intrinsic
def _fma32(typingctx, a, b, c):
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f32 = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f32], ir.FunctionType(f32, [f32, f32, f32]))
        return builder.call(fn, args)

    return sig, codegen


@njit(cache=True, error_model="numpy", inline="always")
def fma32(a, b, c):
    """a * b + c for float32 scalars, rounded once to float32."""
    return _fma32(np.float32(a), np.float32(b), np.float32(c))


if config.DISABLE_JIT:  # pragma: no cover - plain Python: the float64 product of two float32 is exact
    def fma32(a, b, c):  # noqa: F811
        return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


@njit(cache=True, error_model="numpy", inline="always")
def exp32(x):
    """exp of a float32 scalar, in float32 (see the module docstring)."""
    x = min(max(x, _LO), _HI)
    n = np.floor(fma32(x, _LOG2E, np.float32(0.5)))
    r = fma32(n, -_LN2_HI, x)
    r = fma32(n, -_LN2_LO, r)
    p = np.float32(1.9875691500e-4)
    p = fma32(p, r, np.float32(1.3981999507e-3))
    p = fma32(p, r, np.float32(8.3334519073e-3))
    p = fma32(p, r, np.float32(4.1665795894e-2))
    p = fma32(p, r, np.float32(1.6666665459e-1))
    p = fma32(p, r, np.float32(5.0000001201e-1))
    p = fma32(p, r * r, r) + np.float32(1.0)
    return p * _bits_to_float32((np.int32(n) + np.int32(127)) << np.int32(23))
