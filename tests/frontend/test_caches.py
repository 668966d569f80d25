"""Plan caches are bounded (least recently used out, a share of the memory limit) and one call empties them."""
import numpy as np

import pyqml as pq
from pyqml.frontend.cache import PlanCache


def test_plan_cache_is_bounded_lru():
    limit = pq.memory_limit()
    try:
        pq.set_memory_limit(20000)  # a 5% share: 1000 bytes
        c = PlanCache("test cache")
        for k in range(50):
            c.put(k, k, 100.0)
        assert c.nbytes <= c.max_bytes == 1000.0
        assert len(c) == 10 and c.get(49) == 49 and c.get(0) is None
        c.get(40)  # used: survives the next eviction
        c.put("new", 1, 100.0)
        assert c.get(40) == 40 and c.get(41) is None
        assert c.put("huge", 2, 10**6) == 2 and "huge" not in c
    finally:
        pq.set_memory_limit(limit)


def test_amplitude_and_contraction_caches_stay_within_their_share_and_clear():
    n = 40
    c = pq.Circuit(n, [pq.RY(0.1 * w, wires=w) for w in range(n)] + [pq.CNOT(wires=[w, w + 1]) for w in range(n - 1)])
    limit = pq.memory_limit()
    rng = np.random.default_rng(0)
    try:
        pq.clear_caches()
        pq.set_memory_limit(4 * 10**6)
        for _ in range(60):
            bits = rng.integers(0, 2, n)
            a = pq.tensornet.amplitude(c, bits)
            assert abs(a) <= 1.0
        pq.expval(c, [pq.Z(w) for w in range(0, n, 3)], method="tensornet")
        stats = pq.cache_stats()
        for name in ("amplitude plans", "contraction plans"):
            assert 0 < stats[name]["bytes"] <= stats[name]["max_bytes"], stats[name]
        pq.clear_caches()
        assert all(s["entries"] == 0 for s in pq.cache_stats().values())
        # still correct after clearing: <0..0|U|0> of RY then CNOTs is the product of cos(theta/2) on wire 0..
        want = pq.amplitude(c, [0] * n, method="tensornet")
        assert abs(want - pq.tensornet.amplitude(c, [0] * n)) < 1e-14
    finally:
        pq.set_memory_limit(limit)
