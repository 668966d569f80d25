"""Tensor-network method on the shallow wide workloads: 1-D brickwork (W3), 2-D grid (W4), QAOA (W5).

For each case: planning time (light cones + path search, first call), then steady-state time of the energy
E = sum of the observables and of E with its full gradient (plans cached, as in an optimiser loop).

    python bench/tensornet_scaling.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads as wl  # noqa: E402

import pyqml as pq  # noqa: E402


def to_pyqml(circ: wl.Circuit) -> tuple[pq.Circuit, pq.Observable, np.ndarray]:
    """A workload gate list as a pyqml circuit (trainable angles as scaled weights) and E as one observable."""
    names = {"H": "Hadamard", "CNOT": "CNOT", "CZ": "CZ", "RX": "RX", "RY": "RY", "RZ": "RZ", "Rot": "Rot",
             "IsingZZ": "IsingZZ"}
    c = pq.Circuit(circ.n)
    w = c.new_weights(circ.n_params)
    with c:
        for op in circ.ops:
            params = [v if i is None else sc * w[i] for v, i, sc in zip(op.params, op.index, op.scale)]
            pq.GATES[names[op.name]](*params, wires=list(op.wires))
    obs = pq.Hamiltonian([co for co, _ in circ.observables],
                         [_zstring(ws) for _, ws in circ.observables])
    return c, obs, circ.theta.copy()


def _zstring(wires):
    o = pq.Z(wires[0])
    for x in wires[1:]:
        o = o @ pq.Z(x)
    return o


def best_of(f, repeat: int) -> float:
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def run_case(label: str, circ: wl.Circuit, repeat: int = 3) -> dict:
    c, obs, theta = to_pyqml(circ)
    t0 = time.perf_counter()
    ex = c.executor([obs], "tensornet")
    t_plan = time.perf_counter() - t0
    p = ex.plan()
    t_e = best_of(lambda: ex.expval(theta), repeat)
    t_g = best_of(lambda: ex.jacobian(theta), repeat)
    e = float(ex.expval(theta)[0, 0])
    print(f"{label:28s} terms={p.n_terms:6d} plans={p.n_structures:4d} width={p.width:3d} "
          f"plan={t_plan:7.3f}s  E={t_e * 1e3:9.2f} ms  E+grad={t_g * 1e3:9.2f} ms  ratio={t_g / t_e:5.2f}  "
          f"E={e:.10f}", flush=True)
    return {"case": label, "plan_s": t_plan, "E_s": t_e, "grad_s": t_g, "E": e}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the small cases only")
    args = ap.parse_args()
    print(f"pyqml tensornet, {pq._core.max_threads()} threads")
    cases = [("1-D n=100 L=2", lambda: wl.w3_circuit(100, 2)),
             ("1-D n=1000 L=2", lambda: wl.w3_circuit(1000, 2)),
             ("1-D n=1000 L=4", lambda: wl.w3_circuit(1000, 4)),
             ("2-D 6x6 L=2", lambda: wl.w4_circuit(6, 6, 2)),
             ("QAOA p=1 n=100", lambda: wl.w5_circuit(100, 1))]
    if not args.quick:
        cases += [("1-D n=100 L=4", lambda: wl.w3_circuit(100, 4)),
                  ("1-D n=10000 L=2", lambda: wl.w3_circuit(10000, 2)),
                  ("1-D n=10000 L=4", lambda: wl.w3_circuit(10000, 4)),
                  ("2-D 10x10 L=2", lambda: wl.w4_circuit(10, 10, 2)),
                  ("QAOA p=1 n=1000", lambda: wl.w5_circuit(1000, 1)),
                  ("QAOA p=2 n=1000", lambda: wl.w5_circuit(1000, 2))]
    for label, make in cases:
        run_case(label, make())
    # The 2-D 8x8 L=3 network is refused up front by the memory guard.
    c, obs, theta = to_pyqml(wl.w4_circuit(8, 8, 3))
    t0 = time.perf_counter()
    try:
        c.executor([obs], "tensornet").expval(theta)
        print("2-D 8x8 L=3: ran (not expected)")
    except pq.MemoryLimitError as e:
        print(f"2-D 8x8 L=3 refused after {time.perf_counter() - t0:.2f}s: {e}")


if __name__ == "__main__":
    main()
