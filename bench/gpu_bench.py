"""GPU bench of the state-vector method (needs a CUDA build and a GPU; run by bench/gpu_check.sh).

1. Gate-kernel bandwidth: achieved GB/s (reads + writes) of the 1-qubit, 2-qubit, controlled and diagonal
   kernels at 26-30 qubits, next to a device-to-device copy of one state measured in the same run.
2. SEL L=4 (StronglyEntanglingLayers, H = sum_i Z_i), value + adjoint gradient, n = 26..30 (complex128).
3. W1 seed QNN (RX embedding of 4 features + 2 SEL layers, <Z_i> for 4 wires) with 100,000 rows: values and
   values + Jacobian, rows/s on the GPU against the CPU engine in the same run.
4. Tensor network, W3 (1-D brickwork, E = sum Z_i Z_i+1) and W4 (2-D grid, E = sum over bonds Z_a Z_b): value
   and value + gradient with the GPU executor (pyqml._core.GpuTensorNet) on the very plans of the CPU executor
   it is compared with, one row and a batch of rows, and the largest difference between the two.

    python bench/gpu_bench.py [--quick] [--max-wires 30] [--skip bandwidth,sel,w1,tn]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import pyqml as pq
from pyqml import _core


def timed(fn, repeat=1):
    fn()  # warm-up (executor build, allocations)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def sel_circuit(n, layers=4):
    c = pq.Circuit(n)
    w = c.new_weights(layers * n * 3)
    with c:
        for layer in range(layers):
            for i in range(n):
                b = (layer * n + i) * 3
                pq.Rot(w[b], w[b + 1], w[b + 2], wires=i)
            r = layer % (n - 1) + 1
            for i in range(n):
                pq.CNOT(wires=[i, (i + r) % n])
    return c


def w1_circuit():
    c = pq.Circuit(4)
    x = c.new_inputs(4)
    w = c.new_weights(24)
    with c:
        for j in range(4):
            pq.RX(x[j], wires=j)
        for layer in range(2):
            for i in range(4):
                b = (layer * 4 + i) * 3
                pq.Rot(w[b], w[b + 1], w[b + 2], wires=i)
            r = layer % 3 + 1
            for i in range(4):
                pq.CNOT(wires=[i, (i + r) % 4])
    return c


def bandwidth(sizes, reps):
    print("## gate-kernel bandwidth (GB/s, reads + writes; copy = device-to-device copy of one state)")
    print(f"{'n':>3} {'prec':>10} {'copy':>8} {'dense1 lo':>10} {'dense1 hi':>10} {'dense2':>8} {'ctrl1':>8} "
          f"{'diag1':>8}  best/copy")
    for n in sizes:
        for prec in ("complex128", "complex64"):
            elem = 16 if prec == "complex128" else 8
            copy = _core.cuda_bench_copy(float(elem * 2**n), reps)
            g = {
                "dense1 lo": _core.cuda_bench_gate(n, prec, "dense1", 0, reps),
                "dense1 hi": _core.cuda_bench_gate(n, prec, "dense1", n - 1, reps),
                "dense2": _core.cuda_bench_gate(n, prec, "dense2", n - 1, reps),
                "ctrl1": _core.cuda_bench_gate(n, prec, "controlled1", n - 1, reps),
                "diag1": _core.cuda_bench_gate(n, prec, "diagonal1", n - 1, reps),
            }
            vals = " ".join(f"{v:>{max(8, len(k))}.0f}" for k, v in g.items())
            print(f"{n:>3} {prec:>10} {copy:>8.0f} {vals}  {max(g.values()) / copy:.0%}", flush=True)


def sel(sizes):
    print("\n## SEL L=4, H = sum_i Z_i, value + adjoint gradient (complex128), seconds")
    print(f"{'n':>3} {'value':>9} {'value+grad':>11} {'grad/value':>10}")
    for n in sizes:
        c = sel_circuit(n)
        H = sum((pq.Z(i) for i in range(1, n)), pq.Z(0))
        ex = c.executor([H], "statevector", "complex128", "jacobian", device="gpu")
        w = np.random.default_rng(0).uniform(0, 2 * np.pi, c.n_weights)
        tv = timed(lambda ex=ex, w=w: ex.expval(w))
        tg = timed(lambda ex=ex, w=w: ex.jacobian(w))
        print(f"{n:>3} {tv:>9.3f} {tg:>11.3f} {tg / tv:>10.2f}", flush=True)


def w1(rows, cpu_rows):
    print(f"\n## W1 seed QNN, {rows} rows (complex128), rows/s")
    c = w1_circuit()
    obs = [pq.Z(i) for i in range(4)]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4))
    w = rng.uniform(0, 2 * np.pi, 24)
    gpu = c.executor(obs, "statevector", "complex128", "jacobian", device="gpu")
    cpu = c.executor(obs, "statevector", "complex128", "jacobian")
    tv = timed(lambda: gpu.expval(w, x), repeat=3)
    tj = timed(lambda: gpu.jacobian(w, x), repeat=2)
    xc = x[:cpu_rows]
    cv = timed(lambda: cpu.expval(w, xc))
    cj = timed(lambda: cpu.jacobian(w, xc))
    err = np.max(np.abs(gpu.expval(w, xc) - cpu.expval(w, xc)))
    print(f"GPU values            {rows / tv:>12.4g} rows/s ({tv:.3f} s)")
    print(f"GPU values+jacobian   {rows / tj:>12.4g} rows/s ({tj:.3f} s)")
    print(f"CPU values            {cpu_rows / cv:>12.4g} rows/s ({pq.get_num_threads()} threads, {cpu_rows} rows)")
    print(f"CPU values+jacobian   {cpu_rows / cj:>12.4g} rows/s")
    print(f"max |GPU - CPU| on {cpu_rows} rows: {err:.2e}")


def tn(quick):
    """W3 / W4 on the GPU executor against the CPU executor (the same plans), seconds (best of 3)."""
    import workloads as wl
    from tensornet_scaling import to_pyqml

    print("\n## tensor network: GPU executor vs CPU executor on the same plans (complex128), seconds, best of 3")
    print(f"{'case':<26} {'rows':>5} {'plan s':>7} {'CPU val':>9} {'GPU val':>9} {'CPU grad':>9} {'GPU grad':>9} "
          f"{'max |diff|':>10}")
    cases = [("W3 n=1000 L=2", wl.w3_circuit(1000, 2).with_observables(wl.chain_zz(1000)), 1),
             ("W3 n=100 L=4", wl.w3_circuit(100, 4).with_observables(wl.chain_zz(100)), 256),
             ("W4 6x6 L=2", wl.w4_circuit(6, 6, 2), 1)]
    if not quick:
        cases += [("W3 n=10000 L=2", wl.w3_circuit(10000, 2).with_observables(wl.chain_zz(10000)), 1),
                  ("W4 6x6 L=2", wl.w4_circuit(6, 6, 2), 64)]
    for name, circ, rows in cases:
        c, obs, theta = to_pyqml(circ)
        t0 = time.perf_counter()
        cpu = c.executor([obs], "tensornet", "complex128", "jacobian")
        plan_s = time.perf_counter() - t0
        gpu = _core.GpuTensorNet(cpu._tn, 0)  # the CPU executor's own plans on the device
        w = theta if rows == 1 else theta + np.random.default_rng(1).normal(0, 0.1, (rows, theta.size))
        reps = 3 if rows == 1 else 2
        cv = timed(lambda cpu=cpu, w=w: cpu.expval(w), repeat=reps)
        gv = timed(lambda gpu=gpu, w=w: gpu.expval(w), repeat=reps)
        cg = timed(lambda cpu=cpu, w=w: cpu.jacobian(w), repeat=reps)
        gg = timed(lambda gpu=gpu, w=w: gpu.jacobian(w), repeat=reps)
        diff = max(np.max(np.abs(a - b)) for a, b in zip(gpu.jacobian(w)[:2], cpu.jacobian(w)[:2]))
        print(f"{name:<26} {rows:>5} {plan_s:>7.2f} {cv:>9.4f} {gv:>9.4f} {cg:>9.4f} {gg:>9.4f} {diff:>10.2e}",
              flush=True)
    print(f"(CPU: {pq.get_num_threads()} threads; GPU groups per structure for the last case: "
          f"{list(gpu.group_sizes(rows, True))})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="26 and 28 qubits only, fewer repetitions")
    ap.add_argument("--max-wires", type=int, default=30)
    ap.add_argument("--skip", default="", help="comma list of sections to skip: bandwidth,sel,w1,tn")
    a = ap.parse_args()
    if not _core.cuda_available():
        raise SystemExit(f"no usable GPU: {_core.cuda_unavailable_reason()}")
    free, total = _core.cuda_memory_info(0)
    print(f"# device 0: {_core.cuda_device_name(0)}, {total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)")
    skip = set(a.skip.split(","))
    sizes = [n for n in ((26, 28) if a.quick else (26, 28, 30)) if n <= a.max_wires]
    if "bandwidth" not in skip:
        bandwidth(sizes, 5 if a.quick else 10)
    if "sel" not in skip:
        sel(sizes)
    if "w1" not in skip:
        w1(100_000, 10_000 if a.quick else 100_000)
    if "tn" not in skip:
        tn(a.quick)


if __name__ == "__main__":
    main()
