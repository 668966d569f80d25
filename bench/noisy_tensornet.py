"""Noisy light-cone tensor networks at 1,000 qubits: E = sum <Z_i Z_i+1> and its full gradient on the W3
brickwork (bench/workloads.py) with DepolarizingChannel(p) after every gate on each of its wires, and the
noisy QAOA p=1 MaxCut energy of W5 (1,000 nodes) with DepolarizingChannel(p) on both wires after every
IsingZZ and after every RX. Times are the best of `--repeats` calls after one warm-up call (which plans and
compiles), with the noiseless circuit in the same run for the ratio. No peer computes these.

    python bench/noisy_tensornet.py [--n 1000] [--layers 2] [--p 0.01] [--out bench/results/noisy_tensornet.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workloads import w3_angles, w5_graph, w5_params  # noqa: E402

import pyqml as pq  # noqa: E402


def brickwork(n: int, layers: int, p: float | None):
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    with c:
        for l in range(layers):
            for half in (0, 1):
                for i in range(n):
                    pq.RY(w[l, half, i], wires=i)
                    if p:
                        pq.DepolarizingChannel(p, wires=i)
                for i in range(half, n - 1, 2):
                    pq.CZ(wires=[i, i + 1])
                    if p:
                        pq.DepolarizingChannel(p, wires=i)
                        pq.DepolarizingChannel(p, wires=i + 1)
    obs = pq.Observable()
    for i in range(n - 1):
        obs = obs + pq.Z(i) @ pq.Z(i + 1)
    return c, obs, w3_angles(n, layers).reshape(-1)


def qaoa(n: int, p: float | None):
    edges = w5_graph(n)
    c = pq.Circuit(n)
    t = c.new_weights(2)
    with c:
        for i in range(n):
            pq.H(wires=i)
        for u, v in edges:
            pq.IsingZZ(t[0], wires=[u, v])
            if p:
                pq.DepolarizingChannel(p, wires=u)
                pq.DepolarizingChannel(p, wires=v)
        for i in range(n):
            pq.RX(2.0 * t[1], wires=i)
            if p:
                pq.DepolarizingChannel(p, wires=i)
    obs = pq.Observable()
    for u, v in edges:
        obs = obs + pq.Z(u) @ pq.Z(v)
    return c, obs, w5_params(1).reshape(-1)


def timed(f, repeats: int):
    f()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(build, repeats):
    c, obs, w = build()
    t0 = time.perf_counter()
    ex = c.executor([obs], "tensornet")
    compile_s = time.perf_counter() - t0
    t_e, e = timed(lambda: ex.expval(w), repeats)
    t_g, (v, dw, _) = timed(lambda: ex.jacobian(w), repeats)
    plan = ex.plan()
    return {"compile_s": compile_s, "expval_s": t_e, "jacobian_s": t_g, "E": float(e[0, 0]),
            "grad_norm": float(np.linalg.norm(dw)), "n_weights": int(c.n_weights), "n_ops": len(c.ops),
            "structures": plan.n_structures, "width": plan.width, "gradient_flops": plan.gradient_flops}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--p", type=float, default=0.01)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "noisy_tensornet.json"))
    a = ap.parse_args()
    rows = {}
    for name, build in [
        ("brickwork_noiseless", lambda: brickwork(a.n, a.layers, None)),
        ("brickwork_noisy", lambda: brickwork(a.n, a.layers, a.p)),
        ("qaoa_p1_noiseless", lambda: qaoa(a.n, None)),
        ("qaoa_p1_noisy", lambda: qaoa(a.n, a.p)),
    ]:
        rows[name] = run(build, a.repeats)
        r = rows[name]
        print(f"{name:22s} E={r['E']:+.6f}  expval {r['expval_s'] * 1e3:8.1f} ms"
              f"  E+grad {r['jacobian_s'] * 1e3:8.1f} ms"
              f"  (compile {r['compile_s']:.2f} s, {r['structures']} structures, width 2^{r['width']})", flush=True)
    for w in ("brickwork", "qaoa_p1"):
        rows[f"{w}_ratio_noisy_to_noiseless"] = {
            "expval": rows[f"{w}_noisy"]["expval_s"] / rows[f"{w}_noiseless"]["expval_s"],
            "jacobian": rows[f"{w}_noisy"]["jacobian_s"] / rows[f"{w}_noiseless"]["jacobian_s"]}
        print(w, "noisy / noiseless:", rows[f"{w}_ratio_noisy_to_noiseless"])
    meta = {"n": a.n, "layers": a.layers, "p": a.p, "repeats": a.repeats, "threads": pq.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
            "note": "2-core machine shared with parallel builds: absolute times are noisy; the ratios come from "
                    "the same run"}
    with open(a.out, "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
