"""Generates tests/data/template_refs.json: expectation values of pyqml's templates as computed by
PennyLane 0.45 (default.qubit) and Qiskit 2.x (Statevector). Run once with a Python that has both;
the tests read only the JSON.

Every case records the template's arguments and <P> for P in: X_i, Y_i, Z_i on every wire, Z_i Z_{i+1},
and X_0 Y_1 (when there are two wires or more).
"""
import json
import math
import sys

import numpy as np


def paulis(n):
    out = []
    for i in range(n):
        for p in "XYZ":
            out.append([[i, p]])
    for i in range(n - 1):
        out.append([[i, "Z"], [i + 1, "Z"]])
    if n > 1:
        out.append([[0, "X"], [1, "Y"]])
    return out


def pl_expvals(n, body):
    import pennylane as qml

    letter = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}
    dev = qml.device("default.qubit", wires=n)

    @qml.qnode(dev)
    def f():
        body(qml)
        obs = []
        for word in paulis(n):
            o = None
            for w, p in word:
                o = letter[p](w) if o is None else o @ letter[p](w)
            obs.append(qml.expval(o))
        return obs

    return [float(v) for v in f()]


def qiskit_expvals(n, circ):
    from qiskit.quantum_info import SparsePauliOp, Statevector

    sv = Statevector(circ)
    out = []
    for word in paulis(n):
        op = SparsePauliOp.from_sparse_list([("".join(p for _, p in word), [w for w, _ in word], 1.0)], n)
        out.append(float(np.real(sv.expectation_value(op))))
    return out


def main(path):
    import pennylane as qml

    rng = np.random.default_rng(1234)
    cases = []

    def add(name, template, n, kwargs, vals):
        cases.append({"name": name, "template": template, "n_wires": n, "kwargs": kwargs, "expvals": vals})

    # AngleEmbedding
    for rot in "XYZ":
        for d in (3, 4):
            x = rng.uniform(-2, 2, d)
            add(f"angle_{rot}_{d}", "AngleEmbedding", 4,
                {"features": x.tolist(), "rotation": rot, "hadamard_first": rot == "Z"},
                pl_expvals(4, lambda q, x=x, rot=rot: ([q.Hadamard(wires=i) for i in range(4)] if rot == "Z" else None,
                                                       q.AngleEmbedding(x, wires=range(4), rotation=rot))))
    # AmplitudeEmbedding
    a = rng.normal(size=8)
    a /= np.linalg.norm(a)
    add("amplitude_real", "AmplitudeEmbedding", 3, {"features": a.tolist()},
        pl_expvals(3, lambda q: q.AmplitudeEmbedding(a, wires=range(3))))
    b = rng.normal(size=5)
    add("amplitude_pad_norm", "AmplitudeEmbedding", 3, {"features": b.tolist(), "pad_with": 0.3, "normalize": True},
        pl_expvals(3, lambda q: q.AmplitudeEmbedding(b, wires=range(3), pad_with=0.3, normalize=True)))
    c = rng.normal(size=16) + 1j * rng.normal(size=16)
    add("amplitude_complex", "AmplitudeEmbedding", 4,
        {"features_re": c.real.tolist(), "features_im": c.imag.tolist(), "normalize": True},
        pl_expvals(4, lambda q: q.AmplitudeEmbedding(c, wires=range(4), normalize=True)))
    # BasisEmbedding
    add("basis_bits", "BasisEmbedding", 3, {"features": [1, 0, 1]},
        pl_expvals(3, lambda q: q.BasisEmbedding([1, 0, 1], wires=range(3))))
    add("basis_int", "BasisEmbedding", 4, {"features": 6},
        pl_expvals(4, lambda q: q.BasisEmbedding(6, wires=range(4))))
    # IQPEmbedding
    x = rng.uniform(-1.5, 1.5, 3)
    add("iqp_3_r2", "IQPEmbedding", 3, {"features": x.tolist(), "n_repeats": 2},
        pl_expvals(3, lambda q: q.IQPEmbedding(x, wires=range(3), n_repeats=2)))
    x4 = rng.uniform(-1.5, 1.5, 4)
    pat = [[0, 2], [1, 3], [3, 0]]
    add("iqp_4_pattern", "IQPEmbedding", 4, {"features": x4.tolist(), "pattern": pat},
        pl_expvals(4, lambda q: q.IQPEmbedding(x4, wires=range(4), pattern=pat)))
    # QAOAEmbedding
    for n, d, lf in ((1, 1, "Y"), (2, 2, "X"), (3, 2, "Z"), (4, 4, "Y")):
        f = rng.uniform(-1, 1, d)
        shape = qml.QAOAEmbedding.shape(n_layers=2, n_wires=n)
        w = rng.uniform(0, 2 * math.pi, shape)
        add(f"qaoa_emb_{n}_{lf}", "QAOAEmbedding", n, {"features": f.tolist(), "weights": w.tolist(), "local_field": lf},
            pl_expvals(n, lambda q, f=f, w=w, n=n, lf=lf: q.QAOAEmbedding(f, w, wires=range(n), local_field=lf)))
    # StronglyEntanglingLayers
    for n, L, ranges, imp in ((4, 3, None, "CNOT"), (4, 3, [1, 2, 3], "CZ"), (2, 2, None, "CNOT"),
                              (1, 2, None, "CNOT"), (5, 2, [2, 4], "CNOT")):
        w = rng.uniform(0, 2 * math.pi, (L, n, 3))
        imprim = {"CNOT": qml.CNOT, "CZ": qml.CZ}[imp]
        add(f"sel_{n}_{L}_{imp}_{ranges}", "StronglyEntanglingLayers", n,
            {"weights": w.tolist(), "ranges": ranges, "imprimitive": imp},
            pl_expvals(n, lambda q, w=w, n=n, ranges=ranges, imprim=imprim:
                       q.StronglyEntanglingLayers(w, wires=range(n), ranges=ranges, imprimitive=imprim)))
    # BasicEntanglerLayers
    for n, rot in ((1, "RX"), (2, "RY"), (3, "RZ"), (4, "RX")):
        w = rng.uniform(0, 2 * math.pi, (2, n))
        R = getattr(qml, rot)

        def body(q, w=w, n=n, R=R):
            for i in range(n):
                q.Hadamard(wires=i)
            q.BasicEntanglerLayers(w, wires=range(n), rotation=R)
        add(f"basic_{n}_{rot}", "BasicEntanglerLayers", n, {"weights": w.tolist(), "rotation": rot, "hadamard_first": True},
            pl_expvals(n, body))
    # SimplifiedTwoDesign
    for n in (2, 4, 5):
        w0 = rng.uniform(0, 2 * math.pi, n)
        w = rng.uniform(0, 2 * math.pi, (2, n - 1, 2))
        add(f"s2d_{n}", "SimplifiedTwoDesign", n, {"initial_layer_weights": w0.tolist(), "weights": w.tolist()},
            pl_expvals(n, lambda q, w0=w0, w=w, n=n: q.SimplifiedTwoDesign(w0, w, wires=range(n))))
    # RandomLayers
    for n, seed, rots, ratio in ((3, 42, None, 0.3), (4, 7, ["RY", "RZ"], 0.5), (2, 11, ["RX"], 0.3)):
        w = rng.uniform(0, 2 * math.pi, (2, 5))
        rr = None if rots is None else [getattr(qml, r) for r in rots]

        def body(q, w=w, n=n, seed=seed, rr=rr, ratio=ratio):
            for i in range(n):
                q.Hadamard(wires=i)
            q.RandomLayers(w, wires=range(n), seed=seed, rotations=rr, ratio_imprim=ratio)
        add(f"random_{n}_{seed}", "RandomLayers", n,
            {"weights": w.tolist(), "seed": seed, "rotations": rots, "ratio_imprim": ratio, "hadamard_first": True},
            pl_expvals(n, body))
    # QAOA MaxCut layers on a graph
    import networkx as nx
    from pennylane import qaoa

    g = nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)])
    cost_h, mixer_h = qaoa.maxcut(g)
    gammas, alphas = [0.3, 0.7], [0.5, 0.2]
    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev)
    def qaoa_cost():
        for i in range(4):
            qml.Hadamard(wires=i)
        for gm, al in zip(gammas, alphas):
            qaoa.cost_layer(gm, cost_h)
            qaoa.mixer_layer(al, mixer_h)
        return qml.expval(cost_h)
    qaoa_vals = pl_expvals(4, lambda q: ([q.Hadamard(wires=i) for i in range(4)],
                                         [(qaoa.cost_layer(gm, cost_h), qaoa.mixer_layer(al, mixer_h))
                                          for gm, al in zip(gammas, alphas)]))
    add("qaoa_maxcut", "QAOAMaxCut", 4, {"edges": [list(e) for e in g.edges], "gammas": gammas, "alphas": alphas,
                                         "cost": float(qaoa_cost())}, qaoa_vals)

    # Qiskit circuits (qubit i <-> wire i)
    from qiskit.circuit.library import efficient_su2, real_amplitudes, zz_feature_map

    for n, reps, ent in ((3, 2, "full"), (4, 1, "linear"), (3, 2, "circular")):
        x = rng.uniform(-1, 2, n)
        qc = zz_feature_map(n, reps=reps, entanglement=ent)
        qc = qc.assign_parameters(dict(zip(qc.parameters, x)))
        add(f"zz_{n}_{reps}_{ent}", "ZZFeatureMap", n, {"features": x.tolist(), "reps": reps, "entanglement": ent},
            qiskit_expvals(n, qc))
    for n, reps, ent in ((3, 3, "reverse_linear"), (4, 2, "full"), (4, 1, "linear"), (3, 2, "circular")):
        qc = real_amplitudes(n, reps=reps, entanglement=ent)
        w = rng.uniform(0, 2 * math.pi, qc.num_parameters)
        qc = qc.assign_parameters(dict(zip(qc.parameters, w)))
        add(f"ra_{n}_{reps}_{ent}", "RealAmplitudes", n, {"weights": w.tolist(), "reps": reps, "entanglement": ent},
            qiskit_expvals(n, qc))
    for n, reps, ent in ((3, 2, "reverse_linear"), (4, 1, "full")):
        qc = efficient_su2(n, reps=reps, entanglement=ent)
        w = rng.uniform(0, 2 * math.pi, qc.num_parameters)
        qc = qc.assign_parameters(dict(zip(qc.parameters, w)))
        add(f"esu2_{n}_{reps}_{ent}", "EfficientSU2", n, {"weights": w.tolist(), "reps": reps, "entanglement": ent},
            qiskit_expvals(n, qc))

    meta = {"generator": "tests/data/gen_template_refs.py", "pennylane": qml.__version__}
    import qiskit
    meta["qiskit"] = qiskit.__version__
    with open(path, "w") as fh:
        json.dump({"meta": meta, "cases": cases}, fh, indent=1)
    print(f"{len(cases)} cases -> {path}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/template_refs.json")
