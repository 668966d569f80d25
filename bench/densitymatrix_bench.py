"""Noise bench (issue 11's Bench list), every peer in the same process and run:

1. Noisy seed QNN: AngleEmbedding (RX) + StronglyEntanglingLayers L=2 on 4 wires, DepolarizingChannel(0.01)
   after every RX and Rot on its wire and on both wires of every CNOT; 150 Iris rows, values + Jacobian of
   the 4 <Z_i>. pyqml densitymatrix (adjoint, weights and inputs) against PennyLane default.mixed with
   backprop (autograd, per row; JAX jit over all rows) and qiskit-aer's density_matrix method with the
   parameter-shift rule (48 shifted circuits a row, all 150 x 49 parameter sets in one EstimatorV2 call).
2. Density-matrix gradient of SEL L=4 with the same noise at 10-12 qubits, E = sum_i <Z_i> (one
   observable): pyqml against default.mixed + JAX jit (jax.grad), where its memory allows.
3. Trajectories: 1,000 trajectories of a noisy 20-qubit circuit (RY layer, CNOT chain, RY layer,
   DepolarizingChannel(0.01) after every gate on each of its wires), <Z_0>: pyqml method="trajectories"
   against qiskit-aer's statevector method with the same noise model and 1,000 shots.
4. Noisy 1-D brickwork at n=1,000, L=2: E = sum <Z_i Z_i+1> and its gradient through the noisy light-cone
   tensor network, against the noiseless run (bench/noisy_tensornet.py's circuits). No peer does it.

Every peer is optional (a row is left out when its package is missing). Writes
bench/results/densitymatrix.json and bench/results/densitymatrix.md.

    python bench/densitymatrix_bench.py [--quick] [--skip qnn,sel,traj,brickwork] [--sel-sizes 10,11,12]
        [--traj-n 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pyqml as pq  # noqa: E402

P = 0.01


def best_of(f, repeat=3, warmup=True):
    if warmup:
        f()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def iris():
    from pyqml.qml.datasets import load_iris

    X, _ = load_iris()
    return (X - X.mean(0)) / X.std(0)


# ----------------------------------------------------------------------------------------------- pyqml

def noisy_qnn(n, layers, p=P, embed=True, summed=False):
    nm = pq.NoiseModel().add(pq.DepolarizingChannel, p, gates=["RX", "Rot", "CNOT"])

    @pq.qnode(wires=n, noise=nm)
    def f(inputs, weights):
        if embed:
            pq.AngleEmbedding(inputs, wires=range(n))
        pq.StronglyEntanglingLayers(weights, wires=range(n))
        if summed:
            obs = pq.Z(0)
            for i in range(1, n):
                obs = obs + pq.Z(i)
            return pq.expval(obs)
        return [pq.expval(pq.Z(i)) for i in range(n)]

    return f


# ------------------------------------------------------------------------------------------ PennyLane

def pennylane_qnn(n, p=P, embed=True, interface="autograd", summed=False):
    import pennylane as qml

    dev = qml.device("default.mixed", wires=n)

    @qml.qnode(dev, diff_method="backprop", interface=interface)
    def f(x, w):
        if embed:
            for j in range(n):
                qml.RX(x[..., j], wires=j)
                qml.DepolarizingChannel(p, wires=j)
        for layer in range(w.shape[0]):
            r = layer % (n - 1) + 1
            for i in range(n):
                qml.Rot(w[layer, i, 0], w[layer, i, 1], w[layer, i, 2], wires=i)
                qml.DepolarizingChannel(p, wires=i)
            for i in range(n):
                qml.CNOT(wires=[i, (i + r) % n])
                qml.DepolarizingChannel(p, wires=i)
                qml.DepolarizingChannel(p, wires=(i + r) % n)
        if summed:
            return qml.expval(qml.sum(*[qml.PauliZ(i) for i in range(n)]))
        return [qml.expval(qml.PauliZ(i)) for i in range(n)]

    return f


# ------------------------------------------------------------------------------------------ qiskit-aer

def aer_noise_model(p=P, on=("rx", "u", "ry")):
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    # PennyLane's DepolarizingChannel(p) is Aer's depolarizing_error(4p/3): X, Y, Z with p/3 each.
    e1 = depolarizing_error(4 * p / 3, 1)
    nm = NoiseModel()
    nm.add_all_qubit_quantum_error(e1, list(on))
    nm.add_all_qubit_quantum_error(e1.tensor(e1), ["cx"])
    return nm


def aer_qnn_circuit(n, layers):
    """The seed QNN with Parameters x[j] and w[l, i, k]; Rot(a, b, c) = RZ(c) RY(b) RZ(a) = U(b, c, a) up to a
    global phase, so each Rot is one noisy u gate as in the pyqml and PennyLane circuits."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    x = ParameterVector("x", n)
    w = ParameterVector("w", layers * n * 3)
    qc = QuantumCircuit(n)
    for j in range(n):
        qc.rx(x[j], j)
    for layer in range(layers):
        r = layer % (n - 1) + 1
        for i in range(n):
            a, b, c = (w[(layer * n + i) * 3 + k] for k in range(3))
            qc.u(b, c, a, i)
        for i in range(n):
            qc.cx(i, (i + r) % n)
    return qc, list(x) + list(w)


def aer_z_observables(n):
    # Qiskit's qubit 0 is the least significant (rightmost letter): Z on qubit i, shaped (n, 1) to broadcast
    # against the parameter sets.
    return [["I" * (n - 1 - i) + "Z" + "I" * i] for i in range(n)]


def aer_qnn_jacobian(est, qc, params, n, X, W):
    """Values and the parameter-shift Jacobian w.r.t. the weights for every row: 1 + 2 * n_weights parameter
    sets a row, one EstimatorV2 call (columns reordered from `params` to the circuit's parameter order)."""
    nw = W.size
    base = np.concatenate([np.repeat(X[:, None, :], 1 + 2 * nw, axis=1),
                           np.repeat(W.reshape(1, 1, -1), X.shape[0], axis=0).repeat(1 + 2 * nw, axis=1)], axis=2)
    for k in range(nw):
        base[:, 1 + 2 * k, n + k] += np.pi / 2
        base[:, 2 + 2 * k, n + k] -= np.pi / 2
    order = [params.index(q) for q in qc.parameters]
    vals = base.reshape(-1, base.shape[2])[:, order]
    obs = aer_z_observables(n)
    ev = est.run([(qc, obs, vals)]).result()[0].data.evs  # (n, rows * (1 + 2 nw))
    ev = ev.reshape(n, X.shape[0], 1 + 2 * nw)
    values = ev[:, :, 0].T
    jac = 0.5 * (ev[:, :, 1::2] - ev[:, :, 2::2]).transpose(1, 0, 2)
    return values, jac


def aer_estimator(method, noise_model, threads):
    from qiskit_aer.primitives import EstimatorV2

    return EstimatorV2(options={"backend_options": {"method": method, "noise_model": noise_model,
                                                     "max_parallel_threads": threads}})


# --------------------------------------------------------------------------------------------- cases

def case_qnn(out, quick, log):
    X = iris()
    n, layers = 4, 2
    W = np.random.default_rng(0).uniform(0, 2 * np.pi, (layers, n, 3))
    case = ("noisy seed QNN (4 wires, SEL L=2, DepolarizingChannel 0.01 after every RX, Rot and both CNOT "
            "wires), 150 rows, values + Jacobian")
    f = noisy_qnn(n, layers)
    vals, dw, _ = f.jacobian(X, W)
    t = best_of(lambda: f.jacobian(X, W), repeat=5)
    out.append({"case": case, "peer": "pyqml densitymatrix complex128 (adjoint; weights and inputs)",
                "seconds": t})
    log(out[-1])
    tv = best_of(lambda: f(X, W), repeat=5)
    out.append({"case": "noisy seed QNN, 150 rows, values only", "peer": "pyqml densitymatrix complex128",
                "seconds": tv})
    log(out[-1])
    ref = {"values": np.asarray(vals), "dw": np.asarray(dw).reshape(150, n, -1)}
    try:
        import pennylane as qml
        from pennylane import numpy as pnp
    except ImportError:
        qml = None
    if qml is not None:
        g = pennylane_qnn(n)
        Wp = pnp.array(W, requires_grad=True)
        rows = 3 if quick else 15

        def pl_jac():
            for x in X[:rows]:
                qml.jacobian(lambda w, x=x: pnp.stack(g(pnp.array(x, requires_grad=False), w)))(Wp)

        j0 = qml.jacobian(lambda w: pnp.stack(g(pnp.array(X[0], requires_grad=False), w)))(Wp)
        err = float(np.max(np.abs(np.asarray(j0).reshape(n, -1) - ref["dw"][0])))
        tp = best_of(pl_jac, repeat=1, warmup=False) * 150 / rows
        out.append({"case": case, "peer": f"PennyLane {qml.__version__} default.mixed, diff_method=backprop, "
                    f"autograd, qml.jacobian per row (timed on {rows} rows, x150/{rows})", "seconds": tp,
                    "max_abs_diff_vs_pyqml": err})
        log(out[-1])
        try:
            import jax
            import jax.numpy as jnp

            jax.config.update("jax_enable_x64", True)
            gj = pennylane_qnn(n, interface="jax")

            def fj(w, x):
                return jnp.stack(gj(x, w))

            jac = jax.jit(jax.vmap(jax.jacobian(fj), in_axes=(None, 0)))
            Xj, Wj = jnp.asarray(X), jnp.asarray(W)
            t0 = time.perf_counter()
            jj = np.asarray(jac(Wj, Xj))
            compile_s = time.perf_counter() - t0
            err = float(np.max(np.abs(jj.reshape(150, n, -1) - ref["dw"])))
            tj = best_of(lambda: jax.block_until_ready(jac(Wj, Xj)), repeat=3, warmup=False)
            out.append({"case": case, "peer": f"PennyLane {qml.__version__} default.mixed, diff_method=backprop, "
                        f"JAX {jax.__version__} jit(vmap(jacobian)) over the 150 rows (after compiling: "
                        f"{compile_s:.1f} s)", "seconds": tj, "max_abs_diff_vs_pyqml": err})
            log(out[-1])
        except Exception as e:  # noqa: BLE001 - a peer that fails is reported, not fatal
            log({"case": case, "peer": "PennyLane default.mixed + JAX", "error": repr(e)[:300]})
    try:
        import qiskit_aer
    except ImportError:
        qiskit_aer = None
    if qiskit_aer is not None:
        threads = pq.get_num_threads()
        est = aer_estimator("density_matrix", aer_noise_model(on=("rx", "u")), threads)
        qc, params = aer_qnn_circuit(n, layers)
        av, aj = aer_qnn_jacobian(est, qc, params, n, X, W)
        err = float(max(np.max(np.abs(av - ref["values"])), np.max(np.abs(aj - ref["dw"]))))
        ta = best_of(lambda: aer_qnn_jacobian(est, qc, params, n, X, W), repeat=1 if quick else 2, warmup=False)
        out.append({"case": case, "peer": f"qiskit-aer {qiskit_aer.__version__} EstimatorV2 method=density_matrix "
                    f"(exact expectations), parameter shift (150 x 49 parameter sets in one call, "
                    f"max_parallel_threads={threads})", "seconds": ta, "max_abs_diff_vs_pyqml": err})
        log(out[-1])


def case_sel(out, sizes, log):
    for n in sizes:
        W = np.random.default_rng(0).uniform(0, 2 * np.pi, (4, n, 3))
        case = (f"SEL L=4 n={n}, DepolarizingChannel 0.01 after every Rot and both CNOT wires, one row, "
                f"E = sum_i <Z_i> and dE/dweights")
        f = noisy_qnn(n, 4, embed=False, summed=True)
        x0 = np.zeros((1, n))
        t0 = time.perf_counter()
        v, dw, _ = f.jacobian(x0, W)
        t = time.perf_counter() - t0
        out.append({"case": case, "peer": "pyqml densitymatrix complex128 (adjoint)", "seconds": t,
                    "E": float(np.asarray(v).ravel()[0])})
        log(out[-1])
        try:
            import jax
            import jax.numpy as jnp
            import pennylane as qml
        except ImportError:
            continue
        # default.mixed's backprop keeps every intermediate 4^n density matrix (5n ops a layer, 16 B each entry).
        need = 4 * 5 * n * 16 * 4.0 ** n
        if need > 6e9:
            out.append({"case": case, "peer": "PennyLane default.mixed + JAX jit", "seconds": None,
                        "note": f"not run: backprop keeps ~{need / 1e9:.0f} GB of intermediate density "
                                f"matrices, more than this machine can spare"})
            log(out[-1])
            continue
        jax.config.update("jax_enable_x64", True)
        g = pennylane_qnn(n, embed=False, interface="jax", summed=True)
        grad = jax.jit(jax.value_and_grad(lambda w, g=g, n=n: g(jnp.zeros(n), w)))
        Wj = jnp.asarray(W)
        t0 = time.perf_counter()
        e, gr = grad(Wj)
        jax.block_until_ready(gr)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        jax.block_until_ready(grad(Wj))
        tj = time.perf_counter() - t0
        err = float(np.max(np.abs(np.asarray(gr).ravel() - np.asarray(dw).ravel())))
        out.append({"case": case, "peer": f"PennyLane {qml.__version__} default.mixed, backprop, JAX "
                    f"{jax.__version__} jit(value_and_grad), second call (first call with compiling: "
                    f"{first:.1f} s)", "seconds": tj, "max_abs_diff_vs_pyqml": err})
        log(out[-1])


def traj_circuit(n, p=P):
    c = pq.Circuit(n)
    w = c.new_weights(2, n)
    with c:
        for i in range(n):
            pq.RY(w[0, i], wires=i)
            pq.DepolarizingChannel(p, wires=i)
        for i in range(n - 1):
            pq.CNOT(wires=[i, i + 1])
            pq.DepolarizingChannel(p, wires=i)
            pq.DepolarizingChannel(p, wires=i + 1)
        for i in range(n):
            pq.RY(w[1, i], wires=i)
            pq.DepolarizingChannel(p, wires=i)
    return c


def case_traj(out, quick, log, N=1000):
    n = 20
    N = 100 if quick else N
    theta = np.random.default_rng(1).uniform(0, np.pi, (2, n))
    case = (f"trajectories: {N} of a noisy {n}-qubit circuit (RY layer, CNOT chain, RY layer; "
            f"DepolarizingChannel 0.01 after every gate on each wire), <Z_0>")
    c = traj_circuit(n)
    ex = c.executor([pq.Z(0)], "trajectories", trajectories=N, seed=7)
    t0 = time.perf_counter()
    m, se = ex.expval_stderr(theta.reshape(-1))
    t = time.perf_counter() - t0
    out.append({"case": case, "peer": "pyqml method=trajectories complex128 (one batched call)", "seconds": t,
                "value": float(np.asarray(m).ravel()[0]), "stderr": float(np.asarray(se).ravel()[0])})
    log(out[-1])
    try:
        import qiskit_aer
        from qiskit import QuantumCircuit
        from qiskit_aer import AerSimulator
    except ImportError:
        return
    qc = QuantumCircuit(n)
    for i in range(n):
        qc.ry(theta[0, i], i)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    for i in range(n):
        qc.ry(theta[1, i], i)
    qc.measure_all()
    threads = pq.get_num_threads()
    sim = AerSimulator(method="statevector", noise_model=aer_noise_model(on=("ry",)),
                       max_parallel_threads=threads)
    t0 = time.perf_counter()
    res = sim.run(qc, shots=N, seed_simulator=7).result()
    ta = time.perf_counter() - t0
    counts = res.get_counts()
    # Wire 0 is qiskit's qubit 0, the last character of a bit string.
    z0 = sum(v * (1 - 2 * int(k[-1])) for k, v in counts.items()) / N
    out.append({"case": case, "peer": f"qiskit-aer {qiskit_aer.__version__} AerSimulator method=statevector "
                f"with the same noise model, {N} shots (max_parallel_threads={threads})", "seconds": ta,
                "value": float(z0)})
    log(out[-1])


def case_brickwork(out, quick, log):
    from noisy_tensornet import brickwork, run

    n = 200 if quick else 1000
    for label, p in (("noiseless", None), ("noisy", P)):
        r = run(lambda p=p: brickwork(n, 2, p), 3)
        out.append({"case": f"1-D brickwork n={n} L=2, E = sum <Z_i Z_i+1> and grad E ({label}"
                    + (", DepolarizingChannel 0.01 after every gate on each wire)" if p else ")"),
                    "peer": "pyqml tensornet (light cone" + (", doubled ket x bra network)" if p else ")"),
                    "seconds": r["jacobian_s"], "expval_s": r["expval_s"], "E": r["E"],
                    "compile_s": r["compile_s"]})
        log(out[-1])
    out[-1]["ratio_to_noiseless"] = out[-1]["seconds"] / out[-2]["seconds"]


def table(rows):
    lines = ["| case | peer | seconds | notes |", "|---|---|---:|---|"]
    for r in rows:
        if "error" in r:
            continue
        notes = []
        for k in ("max_abs_diff_vs_pyqml", "value", "stderr", "E", "ratio_to_noiseless", "note"):
            if k in r:
                v = r[k]
                notes.append(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}: {v}")
        s = "" if r["seconds"] is None else f"{r['seconds']:.4g}"
        lines.append(f"| {r['case']} | {r['peer']} | {s} | {'; '.join(notes)} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip", default="")
    ap.add_argument("--sel-sizes", default="10,11,12")
    ap.add_argument("--traj-n", type=int, default=1000, help="trajectories (pyqml) and shots (Aer)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "densitymatrix.json"))
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rows: list[dict] = []

    def log(r):
        print(json.dumps(r), flush=True)

    if "qnn" not in skip:
        case_qnn(rows, args.quick, log)
    if "sel" not in skip:
        case_sel(rows, [int(s) for s in args.sel_sizes.split(",")], log)
    if "traj" not in skip:
        case_traj(rows, args.quick, log, args.traj_n)
    if "brickwork" not in skip:
        case_brickwork(rows, args.quick, log)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "threads": pq.get_num_threads(),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "note": "measured on a shared 2-core machine while other builds ran (loaded): absolute times are "
                    "upper bounds; every peer ran in the same process and run, with the same thread count"}
    Path(args.out).parent.mkdir(exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    md = Path(args.out).with_suffix(".md")
    md.write_text(f"# Noise bench ({meta['date']})\n\n{meta['note']}; threads={meta['threads']}.\n\n"
                  + table(rows) + "\n")
    print("wrote", args.out, "and", md)


if __name__ == "__main__":
    main()
