"""Elementwise activation kernels that numpy cannot express in one vectorised pass.

GELU needs erf. numba's ``math.erf`` is a scalar libm call that stops LLVM from
vectorising the loop, so float32 uses a rational approximation (the one Eigen and XLA
use for float32 erf: accurate to about one float32 ulp on [-4, 4], exactly +-1 in float32
beyond) built only from multiplies and one divide. In training the forward pass also
writes the derivative, which needs the normal density exp(-x^2 / 2): numpy's own float32
exp is SIMD-vectorised, so the kernel takes it precomputed. float64 keeps libm's erf and
exp: the exact reference for the tests.
The tanh approximation needs no kernel: numpy's tanh is SIMD-vectorised already.
"""

import math

import numpy as np
from numba import njit

SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
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


@njit(cache=True, error_model="numpy")
def gelu_erf_f32(x, out):
    for k in range(x.size):
        v = x.flat[k]
        out.flat[k] = np.float32(0.5) * v * (np.float32(1.0) + _erf_f32(v * np.float32(SQRT_HALF)))


@njit(cache=True, error_model="numpy")
def half_square_f32(x, out):
    """out = -x^2 / 2, the exponent of the normal density."""
    for k in range(x.size):
        v = x.flat[k]
        out.flat[k] = np.float32(-0.5) * v * v


@njit(cache=True, error_model="numpy")
def gelu_erf_train_f32(x, out, slope):
    """``out`` = GELU(x); ``slope`` holds exp(-x^2 / 2) on entry and dGELU/dx on exit."""
    for k in range(x.size):
        v = x.flat[k]
        cdf = np.float32(0.5) * (np.float32(1.0) + _erf_f32(v * np.float32(SQRT_HALF)))
        out.flat[k] = v * cdf
        slope.flat[k] = cdf + v * np.float32(INV_SQRT_2PI) * slope.flat[k]


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
