"""Memory stays flat over many calls of new and repeated circuits (both methods, Jacobians of batches):
resident set size read from /proc/self/statm. A CI-sized run (a few hundred calls) runs by default; the
soak run (thousands of calls) only with ``pytest -m soak``. The calls themselves come from bench/soak.py."""
import importlib.util
import os
from pathlib import Path

import pytest

if not os.path.exists("/proc/self/statm"):
    pytest.skip("needs /proc/self/statm (Linux)", allow_module_level=True)

_spec = importlib.util.spec_from_file_location("pyqml_bench_soak", Path(__file__).parent.parent / "bench" / "soak.py")
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)

MiB = 1 << 20


def _flat(calls, every, warmup, slack):
    res = soak.soak(calls, every, warmup)
    lo, hi = res["rss_after_warmup_min"], res["rss_after_warmup_max"]
    assert lo is not None and hi is not None
    # After the warm-up (caches of the repeated circuits, allocator pools) the resident set does not grow.
    assert hi - lo <= slack, [(p["calls"], p["rss_bytes"] // MiB) for p in res["curve"]]
    return res


def test_memory_is_flat_over_a_few_hundred_calls():
    _flat(calls=300, every=50, warmup=100, slack=8 * MiB)


@pytest.mark.soak
def test_memory_is_flat_over_thousands_of_calls():
    _flat(calls=6000, every=250, warmup=750, slack=8 * MiB)
