"""Sliced contraction: pyqml's slicer against cotengra's SliceFinder, sliced contraction time against cotengra
and quimb on the same sliced tree, and the 8x8 grid at L=3. Results to bench/results/slicing.{json,md}; Dask
scaling is bench/dask_scaling.py.

    python bench/slicing.py [--quick]

Networks: the light cone of Z_c Z_c+1 in the middle of 2-D grids (RY + CZ layers) and of 1-D brickwork
circuits; per network the widest structure's tree, sliced to the same target (the unsliced width minus a
few indices) by both slicers on the same tree. Contraction: pyqml's engine on its sliced plan (every slice,
with the full gradient too) and on cotengra's sliced tree, against cotengra contracting its sliced tree with
numpy (``tree.contract``) and quimb contracting the network along that tree
(``TensorNetwork.contract(all, optimize=tree)``), on tensors of the same shapes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

import pyqml as pq
from pyqml.tensornet.slicing import cotengra_slices, greedy_slices, sliced_cost

HERE = os.path.dirname(os.path.abspath(__file__))


def grid(lx: int, ly: int, layers: int) -> pq.Circuit:
    n = lx * ly
    c = pq.Circuit(n)
    w = c.new_weights(layers, 2, n)
    q = lambda r, col: r * ly + col  # noqa: E731
    with c:
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, 0, i], wires=i)
            for r in range(lx):
                for col in range(ly - 1):
                    pq.CZ(wires=[q(r, col), q(r, col + 1)])
            for i in range(n):
                pq.RX(w[l, 1, i], wires=i)
            for r in range(lx - 1):
                for col in range(ly):
                    pq.CZ(wires=[q(r, col), q(r + 1, col)])
    return c


def brickwork(n: int, layers: int) -> pq.Circuit:
    c = pq.Circuit(n)
    w = c.new_weights(layers, n, 2)
    with c:
        for l in range(layers):
            for i in range(n):
                pq.RY(w[l, i, 0], wires=i)
                pq.RZ(w[l, i, 1], wires=i)
            for i in range(l % 2, n - 1, 2):
                pq.CNOT(wires=[i, i + 1])
    return c


def timed(f, repeat=1):
    best = math.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def widest_plan(c, obs):
    ex = c.executor(obs, "tensornet")
    return ex, max(ex.plans, key=lambda p: p.width)


def slicer_case(name, c, obs, drop, contract_max_flops):
    ex, plan = widest_plan(c, obs)
    labels = [lf[3] for lf in plan.leaves]
    tw = plan.width - drop
    t_ours, ours = timed(lambda: greedy_slices(labels, plan.tree, tw))
    t_ctg, theirs = timed(lambda: cotengra_slices(labels, plan.tree, tw))
    f_ours, w_ours = sliced_cost(labels, plan.tree, ours)
    f_ctg, w_ctg = sliced_cost(labels, plan.tree, theirs)
    row = dict(network=name, unsliced_width=plan.width, target_width=tw, unsliced_macs=plan.forward_macs,
               pyqml_slices=2 ** len(ours), pyqml_width=w_ours, pyqml_macs=f_ours,
               pyqml_overhead=f_ours / plan.forward_macs,
               cotengra_slices=2 ** len(theirs), cotengra_width=w_ctg, cotengra_macs=f_ctg,
               cotengra_overhead=f_ctg / plan.forward_macs, flops_ratio=f_ours / f_ctg,
               slicer_time_pyqml_s=t_ours, slicer_time_cotengra_s=t_ctg)
    if 8 * f_ours <= contract_max_flops:
        row.update(contract(c, obs, ex, plan, ours, theirs, labels))
    return row


def contract(c, obs, ex, plan, ours, theirs, labels):
    """Seconds of one contraction of the term: pyqml (values; values + gradient) on its sliced plan and on
    cotengra's sliced tree (the same tree, cotengra's sliced indices), cotengra's tree.contract over its sliced
    tree (numpy, values only), and quimb contracting the network along cotengra's sliced tree
    (``TensorNetwork.contract(all, optimize=tree)``, numpy, values only)."""
    import cotengra as ctg
    import opt_einsum as oe

    w = np.random.default_rng(0).normal(size=c.n_weights)
    s = ex.plans.index(plan)
    sp = plan.with_slices(ours)
    ex._tn.set_plan(s, sp.core)
    ex._tn.expval(w, None)  # tables
    t_val, _ = timed(lambda: ex._tn.expval(w, None), 3)
    t_grad, _ = timed(lambda: ex._tn.jacobian(w, None), 2)
    ex._tn.set_plan(s, plan.with_slices(theirs).core)
    ex._tn.expval(w, None)
    t_val_theirs, _ = timed(lambda: ex._tn.expval(w, None), 3)
    ex._tn.set_plan(s, plan.core)
    syms: dict[int, str] = {}
    inputs = [tuple(syms.setdefault(x, oe.get_symbol(len(syms))) for x in ls) for ls in labels]
    size = {v: 2 for v in syms.values()}
    tree = ctg.ContractionTree.from_path(inputs, (), size, ssa_path=[(a, b) for a, b, _ in plan.tree])
    for ix in theirs:
        tree.remove_ind_(syms[ix])
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=(2,) * len(ls)) + 1j * rng.normal(size=(2,) * len(ls)) for ls in labels]
    t_ctg, _ = timed(lambda: tree.contract(arrays), 2)
    out = dict(pyqml_contract_s=t_val, pyqml_contract_with_gradient_s=t_grad,
               pyqml_on_cotengra_tree_s=t_val_theirs, cotengra_numpy_contract_s=t_ctg,
               contract_speedup=t_ctg / t_val)
    try:
        import quimb.tensor as qtn
    except ImportError:
        return out
    tn = qtn.TensorNetwork([qtn.Tensor(a, inds=i) for a, i in zip(arrays, inputs)])
    t_q, vq = timed(lambda: tn.contract(all, optimize=tree, output_inds=()), 2)
    out.update(quimb_contract_s=t_q, quimb_speedup_same_tree=t_q / t_val_theirs)
    return out


def big_grid():
    """The 8x8 grid at L=3 (refused before slicing): its sliced plan at the default memory limit and one
    full local term, or its projected time."""
    c = grid(8, 8, 3)
    obs = [pq.Z(27) @ pq.Z(28)]
    t_plan, full = timed(lambda: pq.plan(c, obs))
    row = dict(network="grid 8x8 L=3, Z27 Z28", plan_s=t_plan, default_limit=dict(
        memory_limit_bytes=pq.memory_limit(), slices=full.slices, width=full.width, peak_memory_bytes=full.peak_memory,
        forward_memory_bytes=full.forward_memory, flops=full.flops, flop_overhead=full.flop_overhead))
    # The same term under a 256 MiB memory limit: sliced to fit.
    pq.set_memory_limit(256 * 2**20)
    try:
        t_plan, p = timed(lambda: pq.plan(c, obs))
    finally:
        pq.set_memory_limit(0)
    row["limit_256MiB"] = dict(plan_s=t_plan, slices=p.slices, width=p.width, peak_memory_bytes=p.peak_memory,
                               forward_memory_bytes=p.forward_memory, flops=p.flops, flop_overhead=p.flop_overhead)
    return c, obs, p, row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", help="run the slicer cases whose name contains this only, merged into the saved "
                                   "results (the 8x8 L=3 term skipped)")
    args = ap.parse_args()
    pq.set_num_threads(min(2, os.cpu_count() or 1))
    res = {"machine": f"{os.cpu_count()} cores, shared with other builds running at the same time (loaded)",
           "threads": pq.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M")}
    cases = [("grid 6x6 L=2", grid(6, 6, 2), [pq.Z(14) @ pq.Z(15)], 4),
             ("grid 7x7 L=2", grid(7, 7, 2), [pq.Z(24) @ pq.Z(25)], 4),
             ("grid 8x8 L=2", grid(8, 8, 2), [pq.Z(27) @ pq.Z(28)], 4),
             ("grid 6x6 L=3", grid(6, 6, 3), [pq.Z(14) @ pq.Z(15)], 6),
             ("grid 4x5 L=3", grid(4, 5, 3), [pq.Z(7) @ pq.Z(8)], 4),
             ("brickwork n=40 L=6", brickwork(40, 6), [pq.Z(19) @ pq.Z(20)], 3),
             ("brickwork n=40 L=8", brickwork(40, 8), [pq.Z(19) @ pq.Z(20)], 4)]
    if args.quick:
        cases = cases[:2]
    if args.only:
        cases = [cs for cs in cases if args.only in cs[0]]
    res["slicers"] = []
    for name, c, obs, drop in cases:
        row = slicer_case(name, c, obs, drop, contract_max_flops=4e9)
        res["slicers"].append(row)
        print(json.dumps(row), flush=True)
    if args.only:
        path = os.path.join(HERE, "results", "slicing.json")
        with open(path) as f:
            saved = json.load(f)
        names = {r["network"] for r in res["slicers"]}
        saved["slicers"] = [r for r in saved["slicers"] if r["network"] not in names] + res["slicers"]
        with open(path, "w") as f:
            json.dump(saved, f, indent=1)
        return
    c, obs, p, row = big_grid()
    # Projected from the engine's measured rate on the largest contracted case.
    rates = [8 * r["pyqml_macs"] / r["pyqml_contract_s"] for r in res["slicers"] if "pyqml_contract_s" in r]
    rate = max(rates) if rates else float("nan")
    row["projected_term_s_from_rate"] = p.flops / rate
    row["rate_flops_per_s"] = rate
    # Per-slice time measured on the term's own plan (a few slices, the engine's threads across them), the
    # projection from it, and the whole term when that projects under 10 minutes.
    w = np.random.default_rng(0).normal(size=c.n_weights)
    pq.set_memory_limit(256 * 2**20)
    try:
        ex = c.executor(obs, "tensornet")
        k = 4
        t_k, _ = timed(lambda: ex._tn.expval_slices(w, None, 0, k))
        row["per_slice_s"] = t_k / k
        row["projected_term_s"] = t_k / k * p.slices
        if row["projected_term_s"] < 600 and not args.quick:
            t, v = timed(lambda: pq.expval(c, obs, weights=w, method="tensornet"))
            row["contracted_sliced_term_s"] = t
            row["value"] = float(np.asarray(v).ravel()[0])
            t_g, _ = timed(lambda: ex._tn.jacobian_slices(w, None, 0, k))
            row["gradient_per_slice_s"] = t_g / k
            row["projected_gradient_term_s"] = t_g / k * p.slices
    finally:
        pq.set_memory_limit(0)
    res["grid_8x8_L3"] = row
    print(json.dumps(row), flush=True)
    # Dask scaling: bench/dask_scaling.py (results/distributed.md).
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "slicing.json"), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
