"""MPS benchmark: pyqml ``method="mps"`` against qiskit-aer ``matrix_product_state`` and quimb ``CircuitMPS``.

    python bench/mps.py [--quick]

Workloads: a 1-D brickwork (RY RZ on every wire, CNOT on even then odd bonds) and a hardware-efficient
ansatz (RY RZ, then a CZ ladder) at n = 50, 100, 200 wires, L layers, max bond chi. Per case: the global
expectation <Z...Z> and a 1000-shot sample of all wires, each simulator with the same max bond; and the
gradient of the global cost at n = 100, chi = 64 against one forward pass (pyqml's adjoint sweep), with the
parameter-shift cost through Aer estimated as 2 x n_params Aer forward passes (one measured). Results:
``bench/results/mps.md`` and ``mps.json``. Times are medians of the timed repeats after one warm-up.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import pyqml as pq

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def layers_spec(kind: str, n: int, layers: int):
    """[(gate, wires, weight index or None)] and the number of weights."""
    ops, k = [], 0
    for _ in range(layers):
        for q in range(n):
            ops.append(("RY", (q,), k))
            ops.append(("RZ", (q,), k + 1))
            k += 2
        if kind == "brickwork":
            for start in (0, 1):
                ops += [("CNOT", (q, q + 1), None) for q in range(start, n - 1, 2)]
        else:
            ops += [("CZ", (q, q + 1), None) for q in range(n - 1)]
    return ops, k


def pyqml_circuit(ops, n, n_w):
    c = pq.Circuit(n)
    w = c.new_weights(n_w)
    with c:
        for name, wires, idx in ops:
            if idx is None:
                pq.GATES[name](wires=list(wires))
            else:
                pq.GATES[name](w[idx], wires=list(wires))
    return c


def timed(f, repeats=2):
    f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def aer_runner(ops, n, theta, chi, shots):
    try:
        from qiskit import QuantumCircuit, transpile
        from qiskit.quantum_info import SparsePauliOp
        from qiskit_aer import AerSimulator
    except ImportError:
        return None
    qc = QuantumCircuit(n)
    for name, wires, idx in ops:
        q = [n - 1 - wires[0]] + ([n - 1 - wires[1]] if len(wires) > 1 else [])  # wire 0 most significant
        if name == "RY":
            qc.ry(theta[idx], q[0])
        elif name == "RZ":
            qc.rz(theta[idx], q[0])
        elif name == "CNOT":
            qc.cx(q[0], q[1])
        else:
            qc.cz(q[0], q[1])
    sim = AerSimulator(method="matrix_product_state", matrix_product_state_max_bond_dimension=chi)
    obs = SparsePauliOp("Z" * n)
    qe = qc.copy()
    qe.save_expectation_value(obs, list(range(n)))
    qe = transpile(qe, sim) if n <= 63 else qe  # the default target stops at 63 qubits; gates are native
    qs = qc.copy()
    qs.measure_all()
    qs = transpile(qs, sim) if n <= 63 else qs

    def expval():
        return float(np.real(sim.run(qe).result().data()["expectation_value"]))

    def sample():
        return sim.run(qs, shots=shots).result().get_counts()

    return expval, sample


def quimb_runner(ops, n, theta, chi, shots):
    try:
        import quimb.tensor as qtn
    except ImportError:
        return None

    def build():
        circ = qtn.CircuitMPS(n, max_bond=chi, cutoff=1e-12)
        for name, wires, idx in ops:
            if idx is None:
                circ.apply_gate(name.lower() if name != "CNOT" else "cx", *wires)
            else:
                circ.apply_gate(name.lower(), theta[idx], *wires)
        return circ

    Z = np.diag([1.0, -1.0]).astype(complex)

    def expval():
        psi = build().psi
        ket = psi.copy()
        for q in range(n):
            ket.gate_(Z, q, contract=True)
        return float(np.real(psi.H @ ket))

    def sample():
        return list(build().sample(shots, seed=1))

    return expval, sample


def run(quick: bool, ns=None, chis=None, quimb_sample=True):
    cases = []
    ns = ns or ((50, 100) if quick else (50, 100, 200))
    chis = chis or ((32, 64) if quick else (32, 64, 128))
    shots = 1000
    rng = np.random.default_rng(0)
    for kind in ("brickwork", "hea"):
        for n in ns:
            for chi in chis:
                layers = 4 if n > 50 or chi < 128 else 8
                ops, n_w = layers_spec(kind, n, layers)
                theta = rng.uniform(-np.pi, np.pi, n_w)
                c = pyqml_circuit(ops, n, n_w)
                glob = pq.Observable({tuple((q, "Z") for q in range(n)): 1.0})
                ex = c.executor([glob], "mps", max_bond=chi)
                rec = {"kind": kind, "n": n, "L": layers, "chi": chi}
                rec["pyqml_expval_s"] = timed(lambda ex=ex, theta=theta: ex.expval(theta))
                rec["pyqml_value"] = float(ex.expval(theta)[0, 0])
                rec["pyqml_discarded"] = float(ex.last_info.discarded_weight[0])
                rec["pyqml_max_bond"] = int(ex.last_info.max_bond[0])
                wires = list(range(n))
                rec["pyqml_sample_s"] = timed(lambda ex=ex, t=theta, ws=wires: ex.sample(t, None, ws, shots, 1))
                for name, make in (("aer", aer_runner), ("quimb", quimb_runner)):
                    r = make(ops, n, theta, chi, shots)
                    if r is None:
                        continue
                    e, s = r
                    rec[f"{name}_expval_s"] = timed(e, 1)
                    rec[f"{name}_value"] = e()
                    if name != "quimb" or quimb_sample:
                        rec[f"{name}_sample_s"] = timed(s, 1)
                cases.append(rec)
                print(json.dumps(rec), flush=True)
    # gradient of the global cost at n = 100, chi = 64
    n, chi = 100, 64
    ops, n_w = layers_spec("hea", n, 4)
    theta = rng.uniform(-np.pi, np.pi, n_w)
    c = pyqml_circuit(ops, n, n_w)
    glob = pq.Observable({tuple((q, "Z") for q in range(n)): 1.0})
    ex = c.executor([glob], "mps", max_bond=chi)
    grad = {"n": n, "chi": chi, "L": 4, "n_params": n_w,
            "forward_s": timed(lambda: ex.expval(theta)),
            "jacobian_s": timed(lambda: ex.jacobian(theta), 1)}
    grad["ratio"] = grad["jacobian_s"] / grad["forward_s"]
    r = aer_runner(ops, n, theta, chi, shots)
    if r is not None:
        grad["aer_forward_s"] = timed(r[0], 1)
        grad["aer_param_shift_estimate_s"] = 2 * n_w * grad["aer_forward_s"]
    print(json.dumps(grad), flush=True)
    return cases, grad


def write(cases, grad):
    os.makedirs(RESULTS, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "threads": pq.get_num_threads(),
            "note": "measured on a machine loaded by parallel builds; compare simulators within this run only"}
    with open(os.path.join(RESULTS, "mps.json"), "w") as f:
        json.dump({"meta": meta, "cases": cases, "gradient": grad}, f, indent=1)
    lines = ["# MPS benchmark (bench/mps.py)", "", f"{meta['note']}; {meta['machine']}, {meta['cpus']} CPUs, "
             f"{meta['threads']} engine threads.", "",
             "| workload | n | L | chi | pyqml <Z..Z> s | aer s | quimb s | pyqml 1000 shots s | aer s | quimb s |"
             " pyqml value | aer value | quimb value | pyqml discarded |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def g(r, k, fmt="{:.3g}"):
        return fmt.format(r[k]) if k in r else "-"

    for r in cases:
        lines.append(f"| {r['kind']} | {r['n']} | {r['L']} | {r['chi']} | {g(r, 'pyqml_expval_s')} | "
                     f"{g(r, 'aer_expval_s')} | {g(r, 'quimb_expval_s')} | {g(r, 'pyqml_sample_s')} | "
                     f"{g(r, 'aer_sample_s')} | {g(r, 'quimb_sample_s')} | {g(r, 'pyqml_value', '{:.4g}')} | "
                     f"{g(r, 'aer_value', '{:.4g}')} | {g(r, 'quimb_value', '{:.4g}')} | "
                     f"{g(r, 'pyqml_discarded')} |")
    lines += ["", f"Gradient of <Z..Z> (HEA, n = {grad['n']}, L = {grad['L']}, chi = {grad['chi']}, "
              f"{grad['n_params']} parameters): forward {grad['forward_s']:.3g} s, adjoint jacobian "
              f"{grad['jacobian_s']:.3g} s ({grad['ratio']:.2f} x forward)"
              + (f"; parameter shift through Aer ~ {grad['aer_param_shift_estimate_s']:.3g} s (2 x "
                 f"{grad['n_params']} x one measured Aer forward of {grad['aer_forward_s']:.3g} s)"
                 if "aer_forward_s" in grad else "") + "."]
    with open(os.path.join(RESULTS, "mps.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ns", type=lambda v: [int(t) for t in v.split(",")], default=None)
    ap.add_argument("--chis", type=lambda v: [int(t) for t in v.split(",")], default=None)
    ap.add_argument("--no-quimb-sample", action="store_true", help="skip quimb's sampling (minutes at n = 50)")
    a = ap.parse_args()
    write(*run(a.quick, a.ns, a.chis, not a.no_quimb_sample))
