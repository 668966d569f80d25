"""Memory over many calls: new and repeated circuits on both methods, resident set size (from
/proc/self/statm) sampled every `--every` calls. Prints the curve and writes bench/results/soak.json.

    python bench/soak.py --calls 5000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

import pyqml as pq

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc/self/statm, second field, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def circuit(n: int, seed: int) -> pq.Circuit:
    """A fresh layered circuit: rotations on weights and inputs, a CNOT ladder, seeded structure."""
    rng = np.random.default_rng(seed)
    c = pq.Circuit(n)
    w = c.new_weights(2 * n)
    x = c.new_inputs(1)
    with c:
        for q in range(n):
            pq.RY(w[q], wires=q)
            pq.RX(x[0] * 0.5, wires=q)
        for q in rng.permutation(n - 1):
            pq.CNOT(wires=[int(q), int(q) + 1])
        for q in range(n):
            pq.RZ(w[n + q], wires=q)
    return c


def one_call(i: int, repeated: dict) -> None:
    """Call i: alternately a new circuit (fresh structure, both methods) and a repeated one (cached)."""
    n = 4 + i % 5
    obs = [pq.Observable.pauli("Z", 0), pq.Observable.pauli("X", n - 1) @ pq.Observable.pauli("Z", 1)]
    if i % 2 == 0:
        c = circuit(n, i)
    else:
        c = repeated.setdefault(n, circuit(n, 10**9 + n))
    method = "statevector" if i % 4 < 2 else "tensornet"
    ex = c.executor(obs, method)
    w = np.linspace(-1, 1, 2 * n) + 0.001 * i
    x = np.full((3, 1), 0.1 * (i % 7))
    v, dw, _ = ex.jacobian(w, x)
    if not (np.all(np.isfinite(v)) and np.all(np.isfinite(dw))):
        raise RuntimeError(f"call {i}: non-finite result")


def soak(calls: int, every: int, warmup: int) -> dict:
    repeated: dict = {}
    curve = []
    for i in range(calls):
        one_call(i, repeated)
        if (i + 1) % every == 0:
            curve.append((i + 1, rss_bytes()))
    after_warmup = [r for k, r in curve if k > warmup]
    return {
        "calls": calls,
        "every": every,
        "warmup": warmup,
        "curve": [{"calls": k, "rss_bytes": r} for k, r in curve],
        "rss_after_warmup_min": min(after_warmup) if after_warmup else None,
        "rss_after_warmup_max": max(after_warmup) if after_warmup else None,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "threads": pq.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "soak.json"))
    a = ap.parse_args()
    res = soak(a.calls, a.every, a.warmup)
    for p in res["curve"]:
        print(f"{p['calls']:7d} calls  rss {p['rss_bytes'] / 2**20:8.1f} MiB")
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
