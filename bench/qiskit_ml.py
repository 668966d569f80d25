"""Qiskit Machine Learning's EstimatorQNN, forward + backward, on the seed QNN (W1) with three primitive stacks:

* pyqml: ``pyqml.qiskit.EstimatorV2`` + ``AdjointEstimatorGradient`` (one batched engine call each way);
* qiskit-aer: ``qiskit_aer.primitives.EstimatorV2`` with EstimatorQNN's default ``ParamShiftEstimatorGradient``;
* qiskit: the reference ``StatevectorEstimator`` with the same default gradient.

    python bench/qiskit_ml.py                 # 150 Iris rows; writes bench/results/qiskit_ml.{md,json}
    python bench/qiskit_ml.py --rows 20 --repeats 3

The QNN is W1 of ``bench/workloads.py``: RX(x_j) on wire j, two StronglyEntanglingLayers (Rot as RZ RY RZ,
CNOT rings of range 1 and 2), <Z_i> on every wire, the standardized Iris rows and ``w1_weights()``. pyqml's
wire j is Qiskit's qubit 3 - j, so the values are W1's. All three run exact (precision 0) and their values and
gradients are compared. pyqml takes a warm-up call and the median of ``--repeats``; each peer one timed call
after a warm-up on 2 rows (a full parameter-shift backward takes tens of seconds).
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
    ap.add_argument("--stacks", default="pyqml,qiskit-aer,qiskit")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    xs = wl.w1_inputs()[: args.rows]
    ws = wl.w1_weights().ravel()
    records = {}
    for stack in args.stacks.split(","):
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
        records[stack] = {"median_s": float(np.median(times)), "repeats": len(times), "forward_s": t_forward,
                          "values": values, "d_weights": d_w}
        print(f"{stack:>11}: forward + backward {records[stack]['median_s'] * 1e3:10.2f} ms "
              f"(forward alone {t_forward * 1e3:.2f} ms, {len(times)} timed)", flush=True)
    base = records.get("pyqml")
    # W1's values from pyqml's own qnode path: the converted circuit gives the seed QNN's numbers.
    qc, x, w, _ = seed_qnn_circuit()
    circ = pqk.from_qiskit(qc, input_params=x)
    native = pq.expval(circ, [pq.Z(i) for i in range(N)], weights=ws, inputs=xs, method="statevector")
    lines = [f"# EstimatorQNN forward + backward, seed QNN (W1), {args.rows} Iris rows, 24 weights, 4 observables",
             "", f"Measured {datetime.date.today()} on {platform.machine()} ({os.cpu_count()} cores, shared with "
             "parallel builds: the machine was loaded, compare rows of this one run only), "
             f"pyqml threads {pq.get_num_threads()}, python {platform.python_version()}.", "",
             "| stack | forward + backward | forward | speed-up (vs pyqml) | max abs diff values / grads vs pyqml |",
             "|---|---|---|---|---|"]
    for stack, r in records.items():
        diff = "-" if base is None or stack == "pyqml" else (
            f"{np.abs(r['values'] - base['values']).max():.1e} / "
            f"{np.abs(r['d_weights'] - base['d_weights']).max():.1e}")
        speed = "-" if base is None or stack == "pyqml" else f"{r['median_s'] / base['median_s']:.0f}x"
        lines.append(f"| {stack} | {r['median_s'] * 1e3:.2f} ms ({r['repeats']} timed) | {r['forward_s'] * 1e3:.2f} ms "
                     f"| {speed} | {diff} |")
    if base is not None:
        lines += ["", f"pyqml's EstimatorQNN values against pq.expval on the converted circuit: max abs diff "
                      f"{np.abs(base['values'] - native).max():.1e}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_write:
        os.makedirs(RESULTS, exist_ok=True)
        with open(os.path.join(RESULTS, "qiskit_ml.md"), "w") as f:
            f.write(text)
        with open(os.path.join(RESULTS, "qiskit_ml.json"), "w") as f:
            json.dump({"date": str(datetime.date.today()), "rows": args.rows,
                       "records": {k: {kk: vv for kk, vv in v.items() if kk not in ("values", "d_weights")}
                                   for k, v in records.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
