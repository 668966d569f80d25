"""Checkpointing and recomputation inside a slice: where storing every value of the backward sweep would not
fit the memory limit, the gradient keeps checkpoints and recomputes the rest, and equals the stored one (and
the state vector's); the estimate, the plan report and the guard count the workspace it takes."""
from __future__ import annotations

import numpy as np
import pytest

import pyqml as pq


def _grid(lx: int, ly: int, layers: int) -> pq.Circuit:
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 3, n)
    x = c.new_inputs(n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for i in range(n):
            pq.RX(x[i], wires=i)
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
                pq.RZ(w[l, 2, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RX(w[l, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CNOT(wires=[q(r, col), q(r + 1, col)])
    return c


OBS = [pq.Z(5) @ pq.Z(6) + 0.25, pq.X(1) - 0.5 * pq.Y(10) @ pq.Z(11)]


@pytest.fixture
def low_limit():
    yield
    pq.set_memory_limit(0)


def _bytes(ex, mode: int) -> float:
    tn = ex._tn
    before, tn.recompute = tn.recompute, mode
    try:
        return float(tn.estimated_bytes(1, True))
    finally:
        tn.recompute = before


def _close(got, want, tol):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=tol, rtol=0)


@pytest.mark.parametrize("layers, target", [(2, 2**7), (2, 2**6)])
def test_checkpointed_gradient_where_the_stored_one_is_refused(low_limit, layers, target):
    """At a limit between the recompute workspace and the stored one: the stored gradient is refused
    (recompute='never'), the default recomputes, equal to the stored gradient to 1e-12 and to the state vector
    to 1e-10; pq.plan reports it."""
    c = _grid(3, 4, layers)
    rng = np.random.default_rng(layers)
    w = rng.uniform(-np.pi, np.pi, c.n_weights)
    # One row: the limit below sits between one row's workspaces (a row's bound gate matrices count too).
    x = rng.uniform(-1, 1, (1, c.n_inputs))
    stored = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target)
    sv = pq.jacobian(c, OBS, weights=w, inputs=x, method="statevector")
    ex = c.executor(OBS, "tensornet", target_size=target)
    p0 = ex.plan()
    assert p0.slices > 1 and not p0.recompute and p0.recompute_flops == 0
    full, smallest = _bytes(ex, 1), _bytes(ex, 2)
    assert smallest < 0.9 * full
    limit = 0.5 * (full + smallest)
    pq.set_memory_limit(limit)
    with pytest.raises(pq.MemoryLimitError, match="over the memory limit"):
        pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target, recompute="never")
    assert any(lay >= 2 for lay in ex._tn.gradient_layouts(1))
    p = pq.plan(c, OBS, target_size=target)
    assert p.recompute and p.peak_memory <= limit < p.stored_gradient_memory
    assert p.recompute_flops > 0 and p.gradient_flops == pytest.approx(p0.gradient_flops + p.recompute_flops)
    got = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target)
    _close(got, stored, 1e-12)
    _close(got, sv, 1e-10)
    # Values alone need no backward sweep: unchanged.
    np.testing.assert_allclose(pq.expval(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target),
                               sv[0], atol=1e-10, rtol=0)
    # The method's estimate (what "auto" compares) counts the recomputed workspace and flops.
    est = type(ex).estimate(c, OBS, "jacobian", "complex128", target_size=target)
    assert est.bytes == p.peak_memory and est.flops > 8.0 * 3.0 * ex.cost()


def test_every_checkpoint_level_gives_the_stored_gradient(low_limit):
    """Limits from the stored workspace down to the smallest pick thresholds from many checkpoints to none;
    each gradient equals the stored one to 1e-12."""
    c = _grid(3, 4, 2)
    w = np.random.default_rng(7).normal(size=c.n_weights)
    x = np.random.default_rng(8).normal(size=(1, c.n_inputs))
    target = 2**6
    stored = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target)
    ex = c.executor(OBS, "tensornet", target_size=target)
    full, smallest = _bytes(ex, 1), _bytes(ex, 2)
    seen = set()
    for f in np.linspace(0.0, 0.98, 8):
        pq.set_memory_limit(smallest + 2048 + f * (full - smallest))
        layouts = tuple(ex._tn.gradient_layouts(1))
        seen.add(layouts)
        _close(pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target), stored, 1e-12)
    pq.set_memory_limit(0)
    assert len(seen) >= 3
    always = pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=target, recompute="always")
    _close(always, stored, 1e-12)


def test_what_does_not_fit_even_recomputed_is_refused_and_bad_options(low_limit):
    c = _grid(3, 4, 2)
    w = np.zeros(c.n_weights)
    x = np.zeros((1, c.n_inputs))
    ex = c.executor(OBS, "tensornet", target_size=2**7)
    pq.set_memory_limit(0.9 * _bytes(ex, 2))
    with pytest.raises(pq.MemoryLimitError, match="checkpoints and recomputation"):
        pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", target_size=2**7)
    pq.set_memory_limit(0)
    with pytest.raises(ValueError, match="recompute must be one of"):
        pq.jacobian(c, OBS, weights=w, inputs=x, method="tensornet", recompute="sometimes")
    with pytest.raises(ValueError, match="recompute must be one of"):
        pq.plan(c, OBS, recompute=True)
