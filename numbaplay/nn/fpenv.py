"""Flush subnormal floats to zero while the update's kernels run (x86-64: MXCSR's FTZ and DAZ bits).

Arithmetic that produces or reads a subnormal float takes a microcode assist on Intel cores, about a
hundred cycles for the whole vector instruction. The update makes them as training goes on: a dead unit's
Adam moment decays by 0.9 a step through the subnormal range before it is flushed (docs/ALGORITHM.md,
"Optimiser"), and small gradients square below 2^-126 in `v`. On `ttt-seed` after 12 iterations the
update took 57 ms with IEEE subnormals and 48.5 ms with them flushed, with bit-identical parameters
(results/optimisations.jsonl has the recorded profile steps). With FTZ (a subnormal result becomes 0) and
DAZ (a subnormal input reads as 0) no assist happens.

Each work unit of the update (a shard step, a gradient-norm chunk, an Adam chunk) calls `flush_enter`
before it and `flush_exit` after it, on whichever thread runs it, so the caller's floating-point
environment is left as it was and NumPy in the calling thread keeps IEEE subnormals. MXCSR is per
thread, and every thread sets the same bits, so results stay independent of the thread count. On other
targets both are no-ops (and the update keeps IEEE subnormals).
"""
import platform

import llvmlite.binding as llvm
from llvmlite import ir
from numba import config, types
from numba.extending import intrinsic

FTZ_DAZ = 0x8040  # MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero
_X86 = platform.machine().lower() in ("x86_64", "amd64")
if _X86:
    llvm.initialize_native_asmparser()  # Numba's JIT parses inline assembly only with it
_I32 = ir.IntType(32)


def _mxcsr_asm(builder, op, slot):
    """`stmxcsr` or `ldmxcsr` (op) on the int32 at slot, as inline assembly that clobbers memory: LLVM may
    move plain loads and stores across its own MXCSR intrinsics (they only touch their argument), but not
    across this, so the kernel's reads and writes stay between `flush_enter` and `flush_exit`."""
    builder.asm(ir.FunctionType(ir.VoidType(), [_I32.as_pointer()]), f"{op} ($0)", "r,~{memory}", [slot],
                side_effect=True)


def _read(builder):
    """(this thread's MXCSR, the int32 slot it was stored to); (0, None) off x86-64."""
    if not _X86:
        return ir.Constant(_I32, 0), None
    slot = builder.alloca(_I32)
    _mxcsr_asm(builder, "stmxcsr", slot)
    return builder.load(slot), slot


def _write(builder, value, slot=None):
    if _X86:
        slot = builder.alloca(_I32) if slot is None else slot
        builder.store(value, slot)
        _mxcsr_asm(builder, "ldmxcsr", slot)


@intrinsic
def flush_enter(typingctx):
    """Set FTZ and DAZ on this thread; returns the previous control word (int32) for `flush_exit`."""
    def codegen(context, builder, signature, args):
        old, slot = _read(builder)
        _write(builder, builder.or_(old, ir.Constant(_I32, FTZ_DAZ)), slot)
        return old

    return types.int32(), codegen


@intrinsic
def flush_exit(typingctx, old):
    """Restore this thread's control word saved by `flush_enter`."""
    if old != types.int32:
        return None

    def codegen(context, builder, signature, args):
        _write(builder, args[0])
        return context.get_dummy_value()

    return types.void(types.int32), codegen


@intrinsic
def mxcsr(typingctx):
    """This thread's MXCSR (int32; 0 off x86-64), for tests."""
    def codegen(context, builder, signature, args):
        return _read(builder)[0]

    return types.int32(), codegen


if config.DISABLE_JIT:  # pragma: no cover - plain Python cannot reach MXCSR; IEEE subnormals throughout
    def flush_enter():  # noqa: F811
        return 0

    def flush_exit(old):  # noqa: F811
        return None

    def mxcsr():  # noqa: F811
        return 0
