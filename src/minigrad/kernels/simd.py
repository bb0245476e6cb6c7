"""SIMD vectors of 64 bytes for numba kernels: 16 float32 or 8 float64 lanes, held in
registers.

numba has no vector type, and LLVM keeps an accumulator in a register across a loop only
when it is a plain value: a block of a numpy array that the loop adds into is loaded and
stored again at every step, because LLVM cannot prove that it does not overlap the arrays
the loop reads. A register-blocked kernel (several output pixels times one vector of output
channels, as in a GEMM micro-kernel) therefore needs vector *values*. This module gives
them: ``Vector`` is an LLVM ``<lanes x float>`` value, and the intrinsics below load, store,
broadcast and fuse-multiply-add them. On a CPU without 512-bit registers LLVM splits each
vector into two (AVX2) or four (SSE) registers.

The kernels index flat, C-contiguous arrays; no bounds are checked (the callers size the
arrays), as in every numba kernel compiled without ``boundscheck``. numba's cache
(``cache=True``) checks a kernel's own source file only: after a change here, delete the
kernels' ``__pycache__`` so that they compile again.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

BYTES = 64


def lanes(itemsize: int) -> int:
    """Lanes of one vector of elements of ``itemsize`` bytes."""
    return BYTES // itemsize


class Vector(types.Type):
    """A vector of ``BYTES // dtype.bitwidth * 8`` lanes of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = lanes(dtype.bitwidth // 8)
        super().__init__(name=f"Vector({dtype}x{self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        element = ir.FloatType() if fe_type.dtype == types.float32 else ir.DoubleType()
        super().__init__(dmm, fe_type, ir.VectorType(element, fe_type.lanes))


def _check_float(dtype) -> None:
    if dtype not in (types.float32, types.float64):
        raise TypeError(f"simd vectors hold float32 or float64, not {dtype}")


def _element(context, builder, array_type, array, index):
    """An LLVM pointer to flat element ``index`` of ``array`` (no wraparound of negative
    indices, whose sign tests would sit in the kernels' inner loops)."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


def _pointer(context, builder, array_type, array, index):
    """An LLVM pointer to the vector that starts at flat element ``index`` of ``array``."""
    return builder.bitcast(_element(context, builder, array_type, array, index),
                           context.get_value_type(Vector(array_type.dtype)).as_pointer())


@intrinsic
def load(typingctx, array, index):
    """The vector ``array[index:index + lanes]`` of a 1-D contiguous float array."""
    _check_float(array.dtype)

    def codegen(context, builder, signature, args):
        element_bytes = array.dtype.bitwidth // 8
        return builder.load(_pointer(context, builder, signature.args[0], *args),
                            align=element_bytes)
    return Vector(array.dtype)(array, index), codegen


@intrinsic
def load_float64(typingctx, array, index):
    """``array[index:index + 8]`` as a vector of 8 float64 (float32 elements widened)."""
    _check_float(array.dtype)
    wide = Vector(types.float64)

    def codegen(context, builder, signature, args):
        element = _element(context, builder, signature.args[0], *args)
        narrow = ir.VectorType(context.get_value_type(array.dtype), wide.lanes)
        value = builder.load(builder.bitcast(element, narrow.as_pointer()),
                             align=array.dtype.bitwidth // 8)
        if array.dtype == types.float64:
            return value
        return builder.fpext(value, context.get_value_type(wide))
    return wide(array, index), codegen


@intrinsic
def store(typingctx, array, index, vector):
    """``array[index:index + lanes] = vector``."""
    _check_float(array.dtype)

    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store(args[2], pointer, align=array.dtype.bitwidth // 8)
    return types.void(array, index, vector), codegen


def _splat(context, builder, vector_type, scalar):
    llvm_type = context.get_value_type(vector_type)
    one = builder.insert_element(ir.Constant(llvm_type, ir.Undefined), scalar,
                                 ir.Constant(ir.IntType(32), 0))
    zeros = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.lanes),
                        [0] * vector_type.lanes)
    return builder.shuffle_vector(one, ir.Constant(llvm_type, ir.Undefined), zeros)


@intrinsic
def broadcast(typingctx, array, index):
    """The vector with every lane ``array[index]`` (a 1-D contiguous float array)."""
    _check_float(array.dtype)

    def codegen(context, builder, signature, args):
        scalar = builder.load(_element(context, builder, signature.args[0], *args))
        return _splat(context, builder, Vector(array.dtype), scalar)
    return Vector(array.dtype)(array, index), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` lane by lane, rounded once (LLVM's ``llvm.fma``)."""
    if not (isinstance(a, Vector) and a == b == c):
        raise TypeError(f"simd.fma takes three vectors of one type, got {a}, {b}, {c}")

    def codegen(context, builder, signature, args):
        llvm_type = context.get_value_type(a)
        suffix = f"v{a.lanes}f{a.dtype.bitwidth}"
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(llvm_type, [llvm_type] * 3), f"llvm.fma.{suffix}")
        return builder.call(function, args)
    return a(a, b, c), codegen


def _lanewise(name, build):
    """An intrinsic ``name(a, b)`` of two vectors of one type, lane by lane."""
    def typer(typingctx, a, b):
        if not (isinstance(a, Vector) and a == b):
            raise TypeError(f"simd.{name} takes two vectors of one type, got {a}, {b}")

        def codegen(context, builder, signature, args):
            return build(builder, *args)
        return a(a, b), codegen
    typer.__name__ = name
    return intrinsic(typer)


add = _lanewise("add", lambda builder, a, b: builder.fadd(a, b))
subtract = _lanewise("subtract", lambda builder, a, b: builder.fsub(a, b))
