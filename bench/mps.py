"""MPS benchmark: pyqml ``method="mps"`` against qiskit-aer ``matrix_product_state`` and quimb ``CircuitMPS``.

    python bench/mps.py [--quick] [--ns 200 --layers 4,8 --chis 32,64,128] [--kernel] [--out NAME] [--merge A.json]

Workloads: a 1-D brickwork (RY RZ on every wire, CNOT on even then odd bonds) and a hardware-efficient
ansatz (RY RZ, then a CZ ladder) at n = 50, 100, 200 wires, L layers, max bond chi. Per case: the global
expectation <Z...Z> and a 1000-shot sample of all wires, each simulator with the same max bond; and the
gradient of the global cost at n = 100, chi = 64 against one forward pass (pyqml's adjoint sweep), with the
parameter-shift cost through Aer estimated as 2 x n_params Aer forward passes (one measured). Results:
``bench/results/mps.md`` and ``mps.json``. Times are medians of the timed repeats after one warm-up (a
warm-up over 5 s is the time), wall seconds with the process CPU seconds (all threads) beside them.
``--kernel``: the fidelity-kernel Gram matrix of 200 rows on a 60-qubit 1-D IQP map against Aer's MPS on
the compute-uncompute circuits (kernel_bench).
"""
from __future__ import annotations

import argparse
import itertools
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


CPU = {}  # the process CPU seconds (all threads) of the last timed() call, by key


def timed(f, repeats=2, once_above=5.0, key=None):
    """Median wall seconds of `repeats` calls after a warm-up (a warm-up over `once_above` s is the time
    itself); the matching process CPU seconds go to CPU[key]."""
    t, c = time.perf_counter(), time.process_time()
    f()
    first, first_cpu = time.perf_counter() - t, time.process_time() - c
    if first > once_above:
        if key:
            CPU[key] = first_cpu
        return first
    ts, cs = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        f()
        ts.append(time.perf_counter() - t)
        cs.append(time.process_time() - c)
    if key:
        CPU[key] = float(np.median(cs))
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


def run(quick: bool, ns=None, chis=None, quimb_sample=True, layer_list=None, kinds=("brickwork", "hea"),
        gradient=True, quimb_limit=None):
    cases = []
    ns = ns or ((50, 100) if quick else (50, 100, 200))
    chis = chis or ((32, 64) if quick else (32, 64, 128))
    layer_list = layer_list or (4,)
    shots = 1000
    rng = np.random.default_rng(0)
    for kind, n, layers, chi in itertools.product(kinds, ns, layer_list, chis):
        ops, n_w = layers_spec(kind, n, layers)
        theta = rng.uniform(-np.pi, np.pi, n_w)
        c = pyqml_circuit(ops, n, n_w)
        glob = pq.Observable({tuple((q, "Z") for q in range(n)): 1.0})
        ex = c.executor([glob], "mps", max_bond=chi)
        rec = {"kind": kind, "n": n, "L": layers, "chi": chi}
        rec["pyqml_expval_s"] = timed(lambda ex=ex, theta=theta: ex.expval(theta), key="e")
        rec["pyqml_expval_cpu_s"] = CPU["e"]
        rec["pyqml_value"] = float(ex.expval(theta)[0, 0])
        rec["pyqml_discarded"] = float(ex.last_info.discarded_weight[0])
        rec["pyqml_max_bond"] = int(ex.last_info.max_bond[0])
        wires = list(range(n))
        rec["pyqml_sample_s"] = timed(lambda ex=ex, t=theta, ws=wires: ex.sample(t, None, ws, shots, 1), key="s")
        rec["pyqml_sample_cpu_s"] = CPU["s"]
        for name, make in (("aer", aer_runner), ("quimb", quimb_runner)):
            r = make(ops, n, theta, chi, shots)
            if r is None:
                continue
            e, s = r
            if name == "quimb" and quimb_limit is not None and rec.get("aer_expval_s", 0) > quimb_limit:
                continue  # quimb's expectation takes ~20x Aer's: skipped past the limit
            got = []
            rec[f"{name}_expval_s"] = timed(lambda e=e, got=got: got.append(e()), 1, key="e")
            rec[f"{name}_expval_cpu_s"] = CPU["e"]
            rec[f"{name}_value"] = got[-1]
            if name != "quimb" or quimb_sample:
                rec[f"{name}_sample_s"] = timed(s, 1, key="s")
                rec[f"{name}_sample_cpu_s"] = CPU["s"]
        cases.append(rec)
        print(json.dumps(rec), flush=True)
    if not gradient:
        return cases, None
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


def iqp_1d(x, wires, reps=2):
    """The IQP map (H, RZ(x_i), MultiRZ(x_i x_(i+1)) per repeat) on a chain: nearest neighbours only."""
    from pyqml.qml import templates

    chain = [(wires[i], wires[i + 1]) for i in range(len(wires) - 1)]
    templates.IQPEmbedding(x, wires=wires, n_repeats=reps, pattern=chain)


def kernel_bench(rows=200, n=60, reps=2, aer_rows=None):
    """The fidelity-kernel Gram matrix K_ij = |<phi(x_i)|phi(x_j)>|^2 of `rows` rows on the 1-D IQP map:
    pyqml QuantumKernel(method="mps") (the states once, the pairs i <= j contracted) against Aer's MPS on the
    compute-uncompute circuits U(x_j)^dagger U(x_i) with save_amplitudes([0]) (one circuit per pair i < j, run
    as one batch: Aer's MPS has no overlap between two states), on the first `aer_rows` rows."""
    from pyqml.qml.sklearn import QuantumKernel

    rng = np.random.default_rng(3)
    X = rng.uniform(0, np.pi / 2, size=(rows, n))
    qk = QuantumKernel(feature_map=iqp_1d, method="mps")
    rec = {"rows": rows, "n": n, "reps": reps}
    t = time.perf_counter()
    K = qk(X)
    rec["pyqml_first_call_s"] = time.perf_counter() - t
    rec["pyqml_s"] = timed(lambda: qk(X), 1, key="k")
    rec["pyqml_cpu_s"] = CPU["k"]
    rec["pyqml_pairs"] = rows * (rows + 1) // 2
    try:
        from qiskit import QuantumCircuit
        from qiskit_aer import AerSimulator
    except ImportError:
        return rec
    m = rows if aer_rows is None else min(rows, aer_rows)

    def feature(x):
        qc = QuantumCircuit(n)
        for _ in range(reps):
            for q in range(n):
                qc.h(q)
                qc.rz(x[q], q)
            for q in range(n - 1):
                qc.rzz(x[q] * x[q + 1], q, q + 1)
        return qc

    t = time.perf_counter()
    fs = [feature(X[i]) for i in range(m)]
    inv = [f.inverse() for f in fs]
    circs, pairs = [], []
    for i in range(m):
        for j in range(i + 1, m):
            qc = fs[i].compose(inv[j])
            qc.save_amplitudes([0])
            circs.append(qc)
            pairs.append((i, j))
    rec["aer_build_s"] = time.perf_counter() - t
    sim = AerSimulator(method="matrix_product_state")
    sim.run(circs[:2]).result()
    t, c = time.perf_counter(), time.process_time()
    res = sim.run(circs).result()
    rec["aer_s"] = time.perf_counter() - t
    rec["aer_cpu_s"] = time.process_time() - c
    rec["aer_rows"] = m
    rec["aer_pairs"] = len(circs)
    Ka = np.array([abs(res.data(k)["amplitudes"][0]) ** 2 for k in range(len(circs))])
    Kp = np.array([K[i, j] for i, j in pairs])
    rec["max_abs_diff"] = float(np.abs(Ka - Kp).max()) if len(pairs) else 0.0
    rec["pyqml_per_pair_s"] = rec["pyqml_s"] / rec["pyqml_pairs"]
    rec["aer_per_pair_s"] = rec["aer_s"] / max(1, rec["aer_pairs"])
    print(json.dumps(rec), flush=True)
    return rec


def write(cases, grad, kernel=None, out="mps"):
    os.makedirs(RESULTS, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "threads": pq.get_num_threads(),
            "note": "measured on a machine loaded by parallel builds; compare simulators within this run only"}
    with open(os.path.join(RESULTS, out + ".json"), "w") as f:
        json.dump({"meta": meta, "cases": cases, "gradient": grad, "kernel": kernel}, f, indent=1)
    lines = ["# MPS benchmark (bench/mps.py)", "", f"{meta['note']}; {meta['machine']}, {meta['cpus']} CPUs, "
             f"{meta['threads']} engine threads. Wall seconds (process CPU seconds, all threads, in brackets).", "",
             "| workload | n | L | chi | pyqml <Z..Z> s | aer s | quimb s | pyqml 1000 shots s | aer s | quimb s |"
             " pyqml value | aer value | quimb value | pyqml discarded | pyqml max bond |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def g(r, k, fmt="{:.3g}"):
        if k not in r:
            return "-"
        v = fmt.format(r[k])
        cpu = k[:-2] + "_cpu_s" if k.endswith("_s") else None
        return f"{v} ({r[cpu]:.3g})" if cpu and cpu in r else v

    for r in cases:
        lines.append(f"| {r['kind']} | {r['n']} | {r['L']} | {r['chi']} | {g(r, 'pyqml_expval_s')} | "
                     f"{g(r, 'aer_expval_s')} | {g(r, 'quimb_expval_s')} | {g(r, 'pyqml_sample_s')} | "
                     f"{g(r, 'aer_sample_s')} | {g(r, 'quimb_sample_s')} | {g(r, 'pyqml_value', '{:.4g}')} | "
                     f"{g(r, 'aer_value', '{:.4g}')} | {g(r, 'quimb_value', '{:.4g}')} | "
                     f"{g(r, 'pyqml_discarded')} | {r.get('pyqml_max_bond', '-')} |")
    if grad:
        lines += ["", f"Gradient of <Z..Z> (HEA, n = {grad['n']}, L = {grad['L']}, chi = {grad['chi']}, "
                  f"{grad['n_params']} parameters): forward {grad['forward_s']:.3g} s, adjoint jacobian "
                  f"{grad['jacobian_s']:.3g} s ({grad['ratio']:.2f} x forward)"
                  + (f"; parameter shift through Aer ~ {grad['aer_param_shift_estimate_s']:.3g} s (2 x "
                     f"{grad['n_params']} x one measured Aer forward of {grad['aer_forward_s']:.3g} s)"
                     if "aer_forward_s" in grad else "") + "."]
    if kernel:
        k = kernel
        lines += ["", f"Fidelity kernel, {k['rows']} rows, {k['n']}-qubit 1-D IQP map ({k['reps']} repeats): pyqml "
                  f"QuantumKernel(method='mps') {k['pyqml_s']:.3g} s ({k['pyqml_cpu_s']:.3g} s CPU) for the whole "
                  f"Gram matrix ({k['pyqml_pairs']} pairs i <= j, {k['pyqml_per_pair_s'] * 1e6:.3g} us a pair; first "
                  f"call with compilation {k['pyqml_first_call_s']:.3g} s)"
                  + (f"; Aer MPS, compute-uncompute U(x_j)^dagger U(x_i) with save_amplitudes([0]), {k['aer_pairs']} "
                     f"pairs i < j of the first {k['aer_rows']} rows in one batch: {k['aer_s']:.3g} s "
                     f"({k['aer_cpu_s']:.3g} s CPU; {k['aer_per_pair_s'] * 1e6:.3g} us a pair; building the "
                     f"circuits took {k['aer_build_s']:.3g} s more); largest |K_pyqml - K_aer| "
                     f"{k['max_abs_diff']:.2g}" if "aer_s" in k else "") + "."]
    with open(os.path.join(RESULTS, out + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def ints(v):
    return [int(t) for t in v.split(",")]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ns", type=ints, default=None)
    ap.add_argument("--chis", type=ints, default=None)
    ap.add_argument("--layers", type=ints, default=None, help="circuit depths L (default 4)")
    ap.add_argument("--kinds", default="brickwork,hea")
    ap.add_argument("--no-quimb-sample", action="store_true", help="skip quimb's sampling (minutes at n = 50)")
    ap.add_argument("--quimb-limit", type=float, default=None,
                    help="skip quimb's expectation where Aer's took longer than this (s)")
    ap.add_argument("--no-gradient", action="store_true")
    ap.add_argument("--kernel", action="store_true", help="the fidelity-kernel Gram matrix bench")
    ap.add_argument("--kernel-rows", type=int, default=200)
    ap.add_argument("--aer-kernel-rows", type=int, default=None, help="rows of Aer's pairs (default: all)")
    ap.add_argument("--no-cases", action="store_true", help="no expectation/sampling cases")
    ap.add_argument("--out", default="mps", help="results/<out>.json and .md")
    ap.add_argument("--merge", default="", help="comma-separated results/*.json whose cases, gradient and kernel "
                    "are kept before this run's")
    a = ap.parse_args()
    old = {"cases": [], "gradient": None, "kernel": None}
    for name in filter(None, a.merge.split(",")):
        with open(os.path.join(RESULTS, name)) as f:
            part = json.load(f)
        old["cases"] += part.get("cases") or []
        old["gradient"] = part.get("gradient") or old["gradient"]
        old["kernel"] = part.get("kernel") or old["kernel"]
    cases, grad = ([], None) if a.no_cases else run(
        a.quick, a.ns, a.chis, not a.no_quimb_sample, a.layers, tuple(a.kinds.split(",")), not a.no_gradient,
        a.quimb_limit)
    kern = kernel_bench(a.kernel_rows, aer_rows=a.aer_kernel_rows) if a.kernel else None
    write(old["cases"] + cases, grad or old["gradient"], kern or old["kernel"], a.out)
