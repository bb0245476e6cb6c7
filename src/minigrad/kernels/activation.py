"""Elementwise activation kernels that numpy cannot express in one vectorised pass.

GELU needs erf. numba's ``math.erf`` is a scalar libm call that stops LLVM from
vectorising the loop, so float32 uses a rational approximation (the one Eigen and XLA
use for float32 erf: accurate to about one float32 ulp on [-4, 4], exactly +-1 in float32
beyond) built only from multiplies and one divide. Its derivative, also a rational
function, gives the normal density for the backward pass, so float32 needs no exp call
either. float64 keeps libm's erf and exp: it is the exact reference used by the tests.
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
def _erf_and_derivative_f32(z):
    """Returns (erf(z), d erf / dz) for a float32 ``z`` from the rational approximation."""
    inside = np.float32(1.0) if -4.0 <= z <= 4.0 else np.float32(0.0)
    z = min(max(z, np.float32(-4.0)), np.float32(4.0))
    z2 = z * z
    # p(z) = z * P(z2), q(z) = Q(z2); Horner for P, Q and their z2-derivatives.
    P = _A[6]
    dP = np.float32(0.0)
    for k in range(5, -1, -1):
        dP = dP * z2 + P
        P = P * z2 + _A[k]
    Q = _B[4]
    dQ = np.float32(0.0)
    for k in range(3, -1, -1):
        dQ = dQ * z2 + Q
        Q = Q * z2 + _B[k]
    value = z * P / Q
    # d/dz [z P(z2) / Q(z2)] = (P + 2 z2 P') / Q - 2 z2 P Q' / Q^2
    derivative = (P + 2 * z2 * dP) / Q - 2 * z2 * P * dQ / (Q * Q)
    return value, derivative * inside


@njit(cache=True, error_model="numpy")
def gelu_erf_f32(x, out):
    for k in range(x.size):
        v = x.flat[k]
        e, _ = _erf_and_derivative_f32(v * np.float32(SQRT_HALF))
        out.flat[k] = np.float32(0.5) * v * (np.float32(1.0) + e)


@njit(cache=True, error_model="numpy")
def gelu_erf_backward_f32(x, dy, dx):
    for k in range(x.size):
        v = x.flat[k]
        e, de = _erf_and_derivative_f32(v * np.float32(SQRT_HALF))
        cdf = np.float32(0.5) * (np.float32(1.0) + e)
        # d/dx Phi(x) = erf'(x / sqrt 2) / (2 sqrt 2)
        pdf = de * np.float32(0.5 * SQRT_HALF)
        dx.flat[k] = dy.flat[k] * (cdf + v * pdf)


@njit(cache=True, error_model="numpy")
def gelu_erf_f64(x, out):
    for k in range(x.size):
        v = x.flat[k]
        out.flat[k] = 0.5 * v * (1.0 + math.erf(v * SQRT_HALF))


@njit(cache=True, error_model="numpy")
def gelu_erf_backward_f64(x, dy, dx):
    for k in range(x.size):
        v = x.flat[k]
        cdf = 0.5 * (1.0 + math.erf(v * SQRT_HALF))
        pdf = INV_SQRT_2PI * math.exp(-0.5 * v * v)
        dx.flat[k] = dy.flat[k] * (cdf + v * pdf)


@njit(cache=True, error_model="numpy")
def gelu_tanh(x, out):
    for k in range(x.size):
        v = x.flat[k]
        inner = TANH_SCALE * (v + TANH_CUBIC * v * v * v)
        out.flat[k] = 0.5 * v * (1.0 + math.tanh(inner))


@njit(cache=True, error_model="numpy")
def gelu_tanh_backward(x, dy, dx):
    for k in range(x.size):
        v = x.flat[k]
        inner = TANH_SCALE * (v + TANH_CUBIC * v * v * v)
        t = math.tanh(inner)
        dinner = TANH_SCALE * (1.0 + 3.0 * TANH_CUBIC * v * v)
        dx.flat[k] = dy.flat[k] * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * dinner)
