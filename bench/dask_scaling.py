"""Dask scaling on one machine: 1 vs 2 worker processes (one thread each) on a sliced contraction (slices as
tasks), a batch of 10,000 QNN rows (rows as tasks) and a Hamiltonian's terms (chunks of terms as tasks),
against the local call on 1 and 2 threads, with the scheduler's per-task cost. Results to
bench/results/distributed.{json,md}.

    python bench/dask_scaling.py [--quick]

(Not bench/distributed.py: run as a script, that name would hide the dask.distributed package.)

Task sizes are chosen so that each task holds about a second of work or more on this machine (8 tasks a
call), so the per-task cost (a no-op task's round trip is measured too) stays a small share. Every distributed
result is checked against the local one (1e-10).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import pyqml as pq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from slicing import grid  # noqa: E402


def timed(f, repeat=1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def qnn(nq: int, layers: int) -> pq.Circuit:
    c = pq.Circuit(nq)
    w = c.new_weights(layers, 2, nq)
    x = c.new_inputs(nq)
    with c:
        for i in range(nq):
            pq.RX(x[i], wires=i)
        for l in range(layers):
            for i in range(nq):
                pq.RY(w[l, 0, i], wires=i)
                pq.RZ(w[l, 1, i], wires=i)
            for i in range(nq - 1):
                pq.CNOT(wires=[i, i + 1])
    return c


def hamiltonian(lx: int, ly: int):
    h = 0
    q = lambda r, col: r * ly + col  # noqa: E731
    for r in range(lx):
        for col in range(ly):
            if col + 1 < ly:
                h = h + pq.Z(q(r, col)) @ pq.Z(q(r, col + 1))
            if r + 1 < lx:
                h = h + pq.Z(q(r, col)) @ pq.Z(q(r + 1, col))
            h = h - 0.7 * pq.X(q(r, col))
    return [h]


def cases(quick: bool):
    rng = np.random.default_rng(0)
    out = []
    # Sliced contraction (values and gradients): slices as tasks.
    lx, ly, ww = (4, 5, 7) if not quick else (3, 4, 5)
    c = grid(lx, ly, 3)
    obs = [pq.Z(ww) @ pq.Z(ww + 1)]
    width = pq.plan(c, obs).width
    target = 2 ** (width - 4)
    p = pq.plan(c, obs, target_size=target)
    out.append(dict(name=f"sliced term: grid {lx}x{ly} L=3, Z{ww} Z{ww + 1}, {p.slices} slices (width {width} -> "
                         f"{p.width}), jacobian", kind="jacobian", circuit=c, obs=obs,
                    weights=rng.normal(size=c.n_weights), inputs=None,
                    options=dict(method="tensornet", target_size=target),
                    split=dict(slices_per_task=max(1, p.slices // 8)), flops=p.gradient_flops))
    # 10,000 QNN rows: rows as tasks (state vector, adjoint gradients).
    nq, rows = (8, 10_000) if not quick else (6, 2_000)
    cq = qnn(nq, 3)
    out.append(dict(name=f"QNN {nq} qubits, 3 layers, {rows} rows, jacobian (statevector)", kind="jacobian",
                    circuit=cq, obs=[pq.Z(0), pq.Z(nq - 1)], weights=rng.normal(size=cq.n_weights),
                    inputs=rng.normal(size=(rows, nq)), options=dict(method="statevector"),
                    split=dict(rows_per_task=rows // 8)))
    # A Hamiltonian's terms: chunks of terms (different light-cone plans) as tasks.
    hx, hy = (4, 4) if not quick else (3, 3)
    ch = grid(hx, hy, 3)
    ho = hamiltonian(hx, hy)
    ex = ch.executor(ho, "tensornet")
    n_terms = ex._tn.n_terms
    out.append(dict(name=f"Hamiltonian (ZZ + X) on grid {hx}x{hy} L=3, {n_terms} terms ({ex._tn.n_structures} "
                         "plans), values", kind="expval", circuit=ch, obs=ho,
                    weights=rng.normal(size=ch.n_weights), inputs=None, options=dict(method="tensornet"),
                    split=dict(terms_per_task=max(1, -(-n_terms // 8))), flops=8 * ex.cost()))
    return out


def run_local(case, threads):
    pq.set_num_threads(threads)
    fn = pq.expval if case["kind"] == "expval" else pq.jacobian
    f = lambda: fn(case["circuit"], case["obs"], weights=case["weights"], inputs=case["inputs"],  # noqa: E731
                   **case["options"])
    f()  # plans, tables
    return timed(f, 1)


def run_dask(case, client):
    import pyqml.distributed as pqd

    fn = pqd.expval if case["kind"] == "expval" else pqd.jacobian
    f = lambda: fn(case["circuit"], case["obs"], weights=case["weights"], inputs=case["inputs"],  # noqa: E731
                   client=client, **case["options"], **case["split"])
    f()  # workers import pyqml once
    return timed(f, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    load = os.getloadavg()
    res = {"machine": f"{os.cpu_count()} cores, shared with other builds and test runs (load average "
                      f"{load[0]:.1f} at the start): times are indicative",
           "date": time.strftime("%Y-%m-%d %H:%M"), "cases": []}
    cs = cases(args.quick)
    for case in cs:
        row = dict(case=case["name"], split=case["split"])
        for t in (1, 2):
            row[f"local_{t}_thread_s"], ref = run_local(case, t)
        case["ref"] = ref
        res["cases"].append(row)
    pq.set_num_threads(1)
    for nw in (1, 2):
        with LocalCluster(n_workers=nw, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            client.run(lambda: pq.set_num_threads(1))
            # The scheduler's cost of one task: a no-op's round trip (median), and per task in a batch of 200.
            lat = []
            for i in range(21):
                t0 = time.perf_counter()
                client.submit(lambda v: v, i, pure=False).result()
                lat.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            client.gather(client.map(lambda v: v, range(200), pure=False))
            res[f"workers_{nw}_noop_task_roundtrip_s"] = statistics.median(lat)
            res[f"workers_{nw}_noop_task_in_batch_s"] = (time.perf_counter() - t0) / 200
            for case, row in zip(cs, res["cases"]):
                t, got = run_dask(case, client)
                ref = case["ref"]
                diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(a) else 0.0
                           for a, b in zip(got if isinstance(got, tuple) else (got,),
                                           ref if isinstance(ref, tuple) else (ref,)))
                assert diff < 1e-10, (case["name"], diff)
                row[f"dask_{nw}_workers_s"] = t
                row[f"dask_{nw}_workers_max_abs_diff_vs_local"] = diff
                print(json.dumps(row), flush=True)
    for row in res["cases"]:
        row["speedup_2_vs_1_workers"] = row["dask_1_workers_s"] / row["dask_2_workers_s"]
        row["dask_1_worker_overhead_share"] = 1.0 - row["local_1_thread_s"] / row["dask_1_workers_s"]
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "distributed.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    sys.exit(main())
