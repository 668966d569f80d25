"""Whether numpy's exp and log give the C library's bits on this machine.

The engine's loss kernels call the C library's exp and log. numpy uses the same functions on most CPUs,
but has its own vectorised exp / log for AVX-512 (and other SIMD targets), which differ from the C library's
in the last bit for some inputs. Tests that promise numpy's bits compare bit for bit where the two agree and
to a stated tolerance where they do not.
"""
import math
from functools import cache

import numpy as np


@cache
def numpy_exp_log_are_libm() -> bool:
    x = np.random.default_rng(0).normal(size=4096) * 8.0
    exp_same = np.array_equal(np.exp(x), np.array([math.exp(v) for v in x]))
    a = np.abs(x) + 1e-3
    log_same = np.array_equal(np.log(a), np.array([math.log(v) for v in a]))
    return bool(exp_same and log_same)


def assert_numpy_bits(actual, expected, rtol=1e-13):
    """Bit for bit where numpy's exp / log are the C library's; within rtol (relative to the largest
    magnitude of `expected`) elsewhere."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if numpy_exp_log_are_libm():
        assert np.array_equal(actual, expected), (actual, expected)
    else:
        scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-300)
        np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)
