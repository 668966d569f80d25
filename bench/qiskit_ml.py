"""Qiskit Machine Learning's EstimatorQNN, forward + backward, on the seed QNN (W1) with three primitive stacks:

* pyqml: ``pyqml.qiskit.EstimatorV2`` + ``AdjointEstimatorGradient`` (one batched engine call each way);
* qiskit-aer: ``qiskit_aer.primitives.EstimatorV2`` with EstimatorQNN's default ``ParamShiftEstimatorGradient``;
* qiskit: the reference ``StatevectorEstimator`` with the same default gradient.

    python bench/qiskit_ml.py                 # 150 Iris rows; writes bench/results/qiskit_ml.{md,json}
    python bench/qiskit_ml.py --rows 20 --repeats 3
    python bench/qiskit_ml.py --peer-rows 20       # pyqml on 150 rows and on 20; the peers on 20

The QNN is W1 of ``bench/workloads.py``: RX(x_j) on wire j, two StronglyEntanglingLayers (Rot as RZ RY RZ,
CNOT rings of range 1 and 2), <Z_i> on every wire, the standardized Iris rows and ``w1_weights()``. pyqml's
wire j is Qiskit's qubit 3 - j, so the values are W1's. All three run exact (precision 0) and their values and
gradients are compared. pyqml takes a warm-up call and the median of ``--repeats``; each peer one timed call
after a warm-up on 2 rows. A parameter-shift backward sends 2 x 24 PUBs per (row, observable): 28,800 for the
150 rows, minutes on a loaded 2-core machine, so ``--peer-rows K`` times the peers on the first K rows and pyqml
on both; speed-ups are taken at the same row count.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pyqml.qiskit as pqk
import workloads as wl
from qiskit.circuit import ParameterVector, QuantumCircuit
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.neural_networks import EstimatorQNN

import pyqml as pq

RESULTS = os.path.join(HERE, "results")
N = 4


def seed_qnn_circuit():
    x = ParameterVector("x", N)
    w = ParameterVector("w", 2 * N * 3)
    qc = QuantumCircuit(N)
    q = lambda wire: N - 1 - wire  # pyqml wire -> Qiskit qubit
    for j in range(N):
        qc.rx(x[j], q(j))
    for layer in range(2):
        for i in range(N):
            base = (layer * N + i) * 3  # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi)
            qc.rz(w[base], q(i))
            qc.ry(w[base + 1], q(i))
            qc.rz(w[base + 2], q(i))
        r = layer % (N - 1) + 1
        for i in range(N):
            qc.cx(q(i), q((i + r) % N))
    observables = [SparsePauliOp("I" * i + "Z" + "I" * (N - 1 - i)) for i in range(N)]  # label[i] is wire i
    return qc, list(x), list(w), observables


def make_qnn(stack: str):
    qc, x, w, obs = seed_qnn_circuit()
    if stack == "pyqml":
        est = pqk.EstimatorV2()
        grad = pqk.AdjointEstimatorGradient(est)
    elif stack == "qiskit-aer":
        from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2

        est, grad = AerEstimatorV2(), None
    else:
        est, grad = StatevectorEstimator(), None
    return EstimatorQNN(circuit=qc, observables=obs, input_params=x, weight_params=w, estimator=est,
                        gradient=grad, default_precision=0.0)


def forward_backward(qnn, xs, ws):
    values = qnn.forward(xs, ws)
    _, d_w = qnn.backward(xs, ws)
    return values, d_w


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--peer-rows", type=int, default=None, help="rows for the peers (default: --rows)")
    ap.add_argument("--stacks", default="pyqml,qiskit-aer,qiskit")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    all_rows = wl.w1_inputs()
    ws = wl.w1_weights().ravel()
    peer_rows = args.peer_rows or args.rows
    runs = []  # (stack, rows)
    for stack in args.stacks.split(","):
        if stack == "pyqml":
            runs += [("pyqml", args.rows)] + ([("pyqml", peer_rows)] if peer_rows != args.rows else [])
        else:
            runs.append((stack, peer_rows))
    records = {}
    for stack, rows in runs:
        xs = all_rows[:rows]
        qnn = make_qnn(stack)
        forward_backward(qnn, xs[:2], ws)  # warm-up: imports, compilation, the first job
        times = []
        for _ in range(args.repeats if stack == "pyqml" else 1):
            t0 = time.perf_counter()
            values, d_w = forward_backward(qnn, xs, ws)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        qnn.forward(xs, ws)
        t_forward = time.perf_counter() - t0
        records[(stack, rows)] = {"median_s": float(np.median(times)), "repeats": len(times),
                                  "forward_s": t_forward, "values": values, "d_weights": d_w}
        print(f"{stack:>11} ({rows} rows): forward + backward {records[(stack, rows)]['median_s'] * 1e3:10.2f} ms "
              f"(forward alone {t_forward * 1e3:.2f} ms, {len(times)} timed)", flush=True)
    # W1's values from pyqml's own path: the converted circuit through pq.expval.
    qc, x, w, _ = seed_qnn_circuit()
    circ = pqk.from_qiskit(qc, input_params=x)
    native = pq.expval(circ, [pq.Z(i) for i in range(N)], weights=ws, inputs=all_rows[: args.rows],
                       method="statevector")
    lines = ["# EstimatorQNN forward + backward, seed QNN (W1): Iris rows, 24 weights, 4 observables", "",
             f"Measured {datetime.date.today()} on {platform.machine()} ({os.cpu_count()} cores, shared with "
             "parallel builds and test runs: the machine was heavily loaded (load average 11-21), so compare "
             "rows of this one run only), "
             f"pyqml threads {pq.get_num_threads()}, python {platform.python_version()}, "
             f"`python bench/qiskit_ml.py {' '.join(sys.argv[1:])}`.", "",
             "| stack | rows | forward + backward | forward | speed-up (pyqml, same rows) | max abs diff values / "
             "grads vs pyqml |", "|---|---|---|---|---|---|"]
    for (stack, rows), r in records.items():
        base = records.get(("pyqml", rows))
        other = base is not None and stack != "pyqml"
        diff = (f"{np.abs(r['values'] - base['values']).max():.1e} / "
                f"{np.abs(r['d_weights'] - base['d_weights']).max():.1e}") if other else "-"
        speed = f"{r['median_s'] / base['median_s']:.0f}x" if other else "-"
        lines.append(f"| {stack} | {rows} | {r['median_s'] * 1e3:.2f} ms ({r['repeats']} timed) | "
                     f"{r['forward_s'] * 1e3:.2f} ms | {speed} | {diff} |")
    full = records.get(("pyqml", args.rows))
    if full is not None:
        lines += ["", f"pyqml's EstimatorQNN values against pq.expval on the converted circuit ({args.rows} rows): "
                      f"max abs diff {np.abs(full['values'] - native).max():.1e}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "qiskit_ml.md"), "w") as f:
            f.write(text)
        with open(os.path.join(RESULTS, "qiskit_ml.json"), "w") as f:
            json.dump({"date": str(datetime.date.today()), "argv": sys.argv[1:],
                       "records": [{"stack": k[0], "rows": k[1],
                                    **{kk: vv for kk, vv in v.items() if kk not in ("values", "d_weights")}}
                                   for k, v in records.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
