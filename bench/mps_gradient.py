"""MPS gradient cost against one forward pass: the HEA and the 1-D brickwork of bench/mps.py.

    python bench/mps_gradient.py [--ns 100] [--layers 4] [--chi 64] [--repeats 3]

Per workload: the forward pass (<Z..Z>), the adjoint Jacobian of <Z..Z> w.r.t. the weights, the Jacobian of three
observables (<Z..Z>, <X..X>, <Z_0 Z_(n-1)>), and the VJP of those three w.r.t. weights and inputs (RX(x_q) on
every wire before the workload, a batch of 2 rows). Results: ``bench/results/mps_gradient.md``
and ``mps_gradient.json``. Times are the best of the timed repeats after one warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
from mps import layers_spec

import pyqml as pq

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def circuit_with_inputs(ops, n, n_w):
    """The workload after RX(x_q) on every wire (inputs x, one per wire)."""
    c = pq.Circuit(n)
    w = c.new_weights(n_w)
    x = c.new_inputs(n)
    with c:
        for q in range(n):
            pq.RX(x[q], wires=q)
        for name, wires, idx in ops:
            if idx is None:
                pq.GATES[name](wires=list(wires))
            else:
                pq.GATES[name](w[idx], wires=list(wires))
    return c


def best(f, repeats):
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(min(ts))


def measure(one, three, theta, xs, cot, repeats):
    x1 = xs[:1]
    rec = {"forward_s": best(lambda: one.expval(theta, x1), repeats)}
    rec["max_bond"] = int(one.last_info.max_bond[0])
    rec["exact"] = bool(one.last_info.exact)
    rec["jacobian_s"] = best(lambda: one.jacobian(theta, x1), repeats)
    rec["forward3_s"] = best(lambda: three.expval(theta, x1), repeats)
    rec["jacobian3_s"] = best(lambda: three.jacobian(theta, x1), repeats)
    rec["forward3_2rows_s"] = best(lambda: three.expval(theta, xs), repeats)
    rec["vjp3_2rows_s"] = best(lambda: three.vjp(theta, xs, cot), repeats)
    return rec


def run(ns, layers, chi, repeats):
    rows = []
    rng = np.random.default_rng(0)
    for kind in ("hea", "brickwork"):
        for n in ns:
            ops, n_w = layers_spec(kind, n, layers)
            theta = rng.uniform(-np.pi, np.pi, n_w)
            xs = rng.uniform(-1, 1, (2, n))
            c = circuit_with_inputs(ops, n, n_w)
            zz = pq.Observable({tuple((q, "Z") for q in range(n)): 1.0})
            xx = pq.Observable({tuple((q, "X") for q in range(n)): 1.0})
            ends = pq.Z(0) @ pq.Z(n - 1)
            one = c.executor([zz], "mps", max_bond=chi)
            three = c.executor([zz, xx, ends], "mps", max_bond=chi)
            rec = {"kind": kind, "n": n, "L": layers, "chi": chi, "n_params": n_w}
            rec.update(measure(one, three, theta, xs, rng.normal(size=(2, 3)), repeats))
            rec["ratio"] = rec["jacobian_s"] / rec["forward_s"]
            rec["ratio3"] = rec["jacobian3_s"] / rec["forward3_s"]
            rec["ratio_vjp"] = rec["vjp3_2rows_s"] / rec["forward3_2rows_s"]
            rows.append(rec)
            print(json.dumps(rec), flush=True)
    return rows


def write(rows, argv):
    os.makedirs(RESULTS, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "threads": pq.get_num_threads(),
            "note": "measured on a machine loaded by parallel builds; compare the ratios within this run",
            "command": "python bench/mps_gradient.py " + " ".join(argv)}
    with open(os.path.join(RESULTS, "mps_gradient.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    lines = ["# MPS gradients against the forward pass (bench/mps_gradient.py)", "",
             f"{meta['note']}; {meta['machine']}, {meta['cpus']} CPUs, {meta['threads']} engine threads.", "",
             "| workload | n | L | chi | params | max bond | forward s | jacobian <Z..Z> s | ratio | "
             "3-obs forward s | 3-obs jacobian s | ratio | 2-row forward s | 2-row VJP (weights, inputs) s | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['n']} | {r['L']} | {r['chi']} | {r['n_params']} | {r['max_bond']} | "
                     f"{r['forward_s']:.3g} | {r['jacobian_s']:.3g} | {r['ratio']:.2f} | {r['forward3_s']:.3g} | "
                     f"{r['jacobian3_s']:.3g} | {r['ratio3']:.2f} | {r['forward3_2rows_s']:.3g} | "
                     f"{r['vjp3_2rows_s']:.3g} | {r['ratio_vjp']:.2f} |")
    lines += ["", f"Command: `{meta['command'].strip()}`."]
    with open(os.path.join(RESULTS, "mps_gradient.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("--ns", type=lambda v: [int(t) for t in v.split(",")], default=[100])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--chi", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    write(run(a.ns, a.layers, a.chi, a.repeats), sys.argv[1:])
