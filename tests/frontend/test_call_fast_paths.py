"""The warm qnode call's fast paths give the same results and the same errors as the general ones."""
import numpy as np
import pytest

import pyqml as pq
from pyqml.frontend.measurements import real_array


def test_real_array_float_fast_path():
    big = np.array([1e308, 1e308])  # finite, however large
    assert real_array(big, "w") is big
    with pytest.raises(ValueError, match=r"w\[1\]"):
        real_array(np.array([1.0, np.nan]), "w")
    with pytest.raises(ValueError, match=r"w\[0, 1\]"):
        real_array(np.array([[0.0, -np.inf]]), "w")


def _qnn():
    @pq.qnode(wires=2)
    def f(inputs, weights):
        pq.AngleEmbedding(inputs, wires=range(2))
        pq.StronglyEntanglingLayers(weights, wires=range(2))
        return [pq.expval(pq.Z(0)), pq.expval(pq.Z(1))]

    return f


def test_positional_and_keyword_calls_agree():
    f = _qnn()
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=(5, 2)), rng.uniform(0, 6, (1, 2, 3))
    a = f(x, w)
    b = f(inputs=x, weights=w)
    c = f(x[0], w)
    np.testing.assert_allclose(a, b, atol=0, rtol=0)
    np.testing.assert_allclose(a[0], c, atol=1e-14)
    # after the cached call, other shapes still compile or are refused by name
    w2 = rng.uniform(0, 6, (2, 2, 3))
    assert f(x, w2).shape == (5, 2)
    with pytest.raises(ValueError, match="weights"):
        f(x, np.full((1, 2, 3), np.nan))
    with pytest.raises(TypeError):
        f(x, w, w)
