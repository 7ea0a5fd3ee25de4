"""A float32 exp that LLVM can vectorise.

Numba lowers `np.exp` on a float32 to a scalar `expf` call (no vector math library is linked), so a loop
of GELUs ran one exponential at a time. `exp32` is Cephes' `expf` written as straight-line float32
arithmetic: clamp, round x log2(e) to n, a two-constant Cody-Waite reduction, a degree-6 polynomial, then
scale by 2^n built from its exponent bits. Error below 1 ulp on [-87, 87] (tests/test_kernels.py); inputs
outside are clamped, so it never returns inf, 0 or a subnormal (exp32(-100) = exp(-87)).
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


@njit(cache=True, error_model="numpy", inline="always")
def exp32(x):
    """exp of a float32 scalar, in float32 (see the module docstring)."""
    x = min(max(x, _LO), _HI)
    n = np.floor(x * _LOG2E + np.float32(0.5))
    r = x - n * _LN2_HI
    r = r - n * _LN2_LO
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + np.float32(1.0)
    return p * _bits_to_float32((np.int32(n) + np.int32(127)) << np.int32(23))
