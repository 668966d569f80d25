"""Light-cone terms in batches: W3 (1-D brickwork), W4 (2-D grid) and W5 (QAOA) energies E and E + grad E
through the tensor network, with the terms of each structure contracted in lane batches (the default) and
term by term (``TensorNet.term_batching = False``), in one run.

    python bench/term_batching.py [--cases w3:1000:4,w4:6:6:2,...] [--repeats 7] [--json out.json]

A case is ``w3:n:L``, ``w4:lx:ly:L`` or ``w5:n:p``. With an engine that has no term batching (an older
build) only the default path is measured. GFLOP/s count the plans' own multiply-adds (8 flops each), next to
a 1024 x 1024 complex GEMM through the same numpy in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import workloads as wl  # noqa: E402
from tensornet_scaling import to_pyqml  # noqa: E402

import pyqml as pq  # noqa: E402

DEFAULT = ("w3:1000:2,w3:1000:4,w3:10000:2,w3:10000:4,w4:6:6:2,w4:10:10:2,w5:100:1,w5:100:2,"
           "w5:1000:1,w5:1000:2")


def circuit_of(case: str):
    kind, *a = case.split(":")
    a = [int(v) for v in a]
    if kind == "w3":
        return f"W3 n={a[0]} L={a[1]}", wl.w3_circuit(a[0], a[1]).with_observables(wl.chain_zz(a[0]))
    if kind == "w4":
        return f"W4 {a[0]}x{a[1]} L={a[2]}", wl.w4_circuit(a[0], a[1], a[2])
    if kind == "w5":
        return f"W5 n={a[0]} p={a[1]}", wl.w5_circuit(a[0], a[1])
    raise ValueError(f"unknown case {case!r}")


def median_s(f, repeats: int) -> float:
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def gemm_gflops() -> float:
    a = np.random.default_rng(0).normal(size=(1024, 1024)) * (1 + 1j)
    a @ a
    t = median_s(lambda: a @ a, 3)
    return 8 * 1024**3 / t / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    records = []
    gemm = gemm_gflops()
    print(f"pyqml {pq.__file__}, threads {pq.get_num_threads()}, complex GEMM {gemm:.1f} GFLOP/s", flush=True)
    for case in args.cases.split(","):
        label, circ = circuit_of(case)
        c, obs, theta = to_pyqml(circ)
        ex = c.executor([obs], "tensornet")
        plan = ex.plan()
        tn = ex._tn
        modes = [True, False] if hasattr(tn, "term_batching") else [None]
        ref = None
        for mode in modes:
            if mode is not None:
                tn.term_batching = mode
            e = median_s(lambda ex=ex, t=theta: ex.expval(t), args.repeats)
            g = median_s(lambda ex=ex, t=theta: ex.jacobian(t), max(3, args.repeats // 2))
            v, dw, _ = ex.jacobian(theta)
            if ref is None:
                ref = (v, dw)
            rec = {"case": label, "term_batching": mode, "terms": plan.n_terms, "structures": plan.n_structures,
                   "width": plan.width, "E_ms": e * 1e3, "EG_ms": g * 1e3,
                   "E_gflops": plan.flops / e / 1e9, "EG_gflops": plan.gradient_flops / g / 1e9,
                   "gemm_gflops": gemm, "E": float(v[0, 0]),
                   "max_diff_vs_first": float(max(np.max(np.abs(v - ref[0])), np.max(np.abs(dw - ref[1]))))}
            if mode is not None:
                rec["batched"] = bool(tn.batches_terms(1, False))
            records.append(rec)
            print(json.dumps(rec), flush=True)
        if hasattr(tn, "term_batching"):
            tn.term_batching = True
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": pq.get_num_threads(), "gemm_gflops": gemm, "records": records}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
