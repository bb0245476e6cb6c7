"""Elementwise activation kernels that numpy cannot express in one vectorised pass.

GELU needs erf. numba's ``math.erf`` is a scalar libm call that stops LLVM from
vectorising the loop, so float32 uses a rational approximation (the one Eigen and XLA
use for float32 erf: accurate to about one float32 ulp on [-4, 4], exactly +-1 in float32
beyond) built only from multiplies and one divide. In training the forward pass also
writes the derivative, which needs the normal density exp(-x^2 / 2); numba's ``math.exp``
is a scalar call too, so float32 uses Cephes' expf (range reduction by n ln 2, a degree-7
polynomial, then a multiply by 2^-n built from its bits; within 1.35 ulp of exp), which
keeps the whole derivative in the one SIMD loop. float64 keeps libm's erf and exp: the
exact reference for the tests.
The tanh approximation needs no kernel: numpy's tanh is SIMD-vectorised already.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
LOG2E = 1.4426950408889634
TANH_SCALE = 0.7978845608028654  # sqrt(2 / pi)
TANH_CUBIC = 0.044715

# Numerator (odd powers 1..13) and denominator (even powers 0..8) of erf(z) ~ p(z) / q(z).
_A = np.array(
    [-1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04,
     -5.69250639462346e-05, -2.10102402082508e-06, 2.77068142495902e-08,
     -2.72614225801306e-10], dtype=np.float32)
_B = np.array(
    [-1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03,
     -2.13374055278905e-04, -1.45660718464996e-05], dtype=np.float32)


@njit(cache=True, error_model="numpy", inline="always")
def _erf_f32(z):
    """erf of a float32 ``z`` from the rational approximation p(z) / q(z)."""
    z = min(max(z, np.float32(-4.0)), np.float32(4.0))
    z2 = z * z
    p = _A[6]
    for k in range(5, -1, -1):
        p = p * z2 + _A[k]
    q = _B[4]
    for k in range(3, -1, -1):
        q = q * z2 + _B[k]
    return z * p / q


@intrinsic
def _bits_as_float32(typingctx, bits):
    """The float32 whose bit pattern is the low 32 bits of the integer ``bits``: an LLVM
    bitcast, which costs nothing and keeps the loop SIMD (numba has no scalar view)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = args[0]
        if bits.bitwidth != 32:
            value = builder.trunc(value, ir.IntType(32))
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@njit(cache=True, error_model="numpy", inline="always")
def _exp_neg_f32(t):
    """exp(-t) for a float32 ``t`` >= 0; 0 past t = 87, where exp(-t) nears float32's
    smallest normal number."""
    beyond = t > np.float32(87.0)
    t = min(t, np.float32(87.0))
    n = np.int32(t * np.float32(LOG2E) + np.float32(0.5))  # round(t / ln 2), 0..126
    nf = np.float32(n)
    # r = n ln 2 - t in [-ln 2 / 2, ln 2 / 2]; ln 2 = 0.693359375 - 2.12194440e-4, whose
    # high part has so few bits that n times it is exact
    r = (nf * np.float32(0.693359375) - t) + nf * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    e = p * (r * r) + r + np.float32(1.0)
    scale = _bits_as_float32((127 - n) << 23)  # 2^-n: biased exponent 127 - n, mantissa 0
    return np.float32(0.0) if beyond else e * scale


@njit(cache=True, error_model="numpy")
def gelu_erf_f32(x, out):
    for k in range(x.size):
        v = x.flat[k]
        out.flat[k] = np.float32(0.5) * v * (np.float32(1.0) + _erf_f32(v * np.float32(SQRT_HALF)))


@njit(cache=True, error_model="numpy")
def gelu_erf_train_f32(x, out, slope):
    """``out`` = GELU(x) and ``slope`` = dGELU/dx = Phi(x) + x * phi(x)."""
    for k in range(x.size):
        v = x.flat[k]
        cdf = np.float32(0.5) * (np.float32(1.0) + _erf_f32(v * np.float32(SQRT_HALF)))
        out.flat[k] = v * cdf
        density = np.float32(INV_SQRT_2PI) * _exp_neg_f32(np.float32(0.5) * v * v)
        slope.flat[k] = cdf + v * density


@njit(cache=True, error_model="numpy")
def gelu_erf_f64(x, out):
    for k in range(x.size):
        v = x.flat[k]
        out.flat[k] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))


@njit(cache=True, error_model="numpy")
def gelu_erf_train_f64(x, out, slope):
    """``out`` = GELU(x) and ``slope`` = dGELU/dx."""
    for k in range(x.size):
        v = x.flat[k]
        cdf = 0.5 * (1.0 + math.erf(v * SQRT_HALF))
        out.flat[k] = v * cdf
        slope.flat[k] = cdf + v * INV_SQRT_2PI * math.exp(-0.5 * v * v)


def gelu_erf(dtype):
    """(eval, train) kernels of the exact GELU for ``dtype``: the training one also
    writes the derivative, which backward then only multiplies by."""
    if dtype == np.float32:
        return gelu_erf_f32, gelu_erf_train_f32
    return gelu_erf_f64, gelu_erf_train_f64
