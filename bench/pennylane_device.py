"""The seed QNN through PennyLane on three devices: values and Jacobian of one broadcast tape.

4 wires, AngleEmbedding + StronglyEntanglingLayers (2 layers), <Z_i> for i = 0..3, on the 150 rows of Iris
(``pyqml.datasets.load_iris``, standardised). Each device gets PennyLane's usual way of differentiating it:

* ``pyqml.qubit``: one broadcast tape, ``diff_method="adjoint"`` (the engine's batched adjoint Jacobian, one
  call for all 150 rows);
* ``lightning.qubit``: ``diff_method="adjoint"`` (PennyLane splits the broadcast tape into 150 tapes);
* ``default.qubit``: ``diff_method="backprop"`` with autograd;
* ``default.qubit`` + JAX: the jax interface, backprop, ``jax.jit`` of the values and of ``jax.jacrev``
  (one broadcast tape traced once; compilation lands in the warm-up call).

Timed: the values alone (weights not trainable) and ``qml.jacobian`` of the (4, 150) values with respect to
the (2, 4, 3) weights. Medians over ``--repeats`` runs after one warm-up; the Jacobians are checked to agree.
Then the per-tape overhead: one 4-wire tape (the seed QNN on one row) through ``qml.execute`` on
``pyqml.qubit`` and on ``lightning.qubit``, values and values + Jacobian (adjoint), median per call.

    python bench/pennylane_device.py [--repeats 5] [--json bench/results/pennylane_device.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pennylane as qml
from pennylane import numpy as pnp
from pyqml.datasets import load_iris


def make_qnode(device_name: str):
    if device_name == "default.qubit":
        dev, diff = qml.device("default.qubit", wires=4), "backprop"
    else:
        dev, diff = qml.device(device_name, wires=4), "adjoint"

    @qml.qnode(dev, diff_method=diff)
    def qnn(weights, x):
        qml.AngleEmbedding(x, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.Z(i)) for i in range(4)]

    return qnn


def measure_jax(w0, X, repeats: int):
    """default.qubit with the jax interface under jax.jit: values and the Jacobian (jacrev) of one broadcast
    tape, the jitted functions warmed up (compiled) before timing."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    dev = qml.device("default.qubit", wires=4)

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def qnn(weights, x):
        qml.AngleEmbedding(x, wires=range(4))
        qml.StronglyEntanglingLayers(weights, wires=range(4))
        return [qml.expval(qml.Z(i)) for i in range(4)]

    f = lambda w, x: jnp.stack(qnn(w, x))
    values = jax.jit(f)
    jac = jax.jit(lambda w, x: (f(w, x), jax.jacrev(f)(w, x)))
    w, x = jnp.asarray(w0), jnp.asarray(X)
    t0 = time.perf_counter()
    jax.block_until_ready(jac(w, x))
    compile_s = time.perf_counter() - t0
    t_val, vals = median_time(lambda: np.asarray(jax.block_until_ready(values(w, x))), repeats)
    t_jac, out = median_time(lambda: jax.block_until_ready(jac(w, x)), repeats)
    return t_val, t_jac, compile_s, vals, np.asarray(out[1])


def per_tape_overhead(w0, x_row, repeats: int, devices) -> dict:
    """Median seconds per qml.execute call of one 4-wire tape (the seed QNN on one row), values and values +
    Jacobian (adjoint), per device: what a framework pays per tape beyond the simulation itself."""
    ops = [qml.AngleEmbedding(x_row, wires=range(4)),
           qml.StronglyEntanglingLayers(pnp.array(w0, requires_grad=True), wires=range(4))]
    tape = qml.tape.QuantumScript(ops, [qml.expval(qml.Z(i)) for i in range(4)], trainable_params=None)
    out = {}
    for name in devices:
        try:
            dev = qml.device(name, wires=4)
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            print(f"{name}: not available ({type(e).__name__}: {e})")
            continue
        t_val, _ = median_time(lambda dev=dev: qml.execute([tape], dev, diff_method=None), max(repeats, 50))
        config = qml.devices.ExecutionConfig(gradient_method="adjoint")
        program = dev.preprocess_transforms(config)
        batch, _ = program([tape])
        t_dev, _ = median_time(lambda dev=dev, batch=batch, config=config:
                               dev.execute_and_compute_derivatives(batch, config), max(repeats, 50))
        out[name] = {"execute_values_s": t_val, "device_values_and_jacobian_s": t_dev}
    return out


def median_time(fn, repeats: int, slow: float = 10.0) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()  # warm-up (compilation, caches)
    if time.perf_counter() - t0 > slow:
        repeats = 1  # keep the run short on a shared machine: one timed run of a call this slow
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def measure(name: str, qnn, w0, X, repeats: int):
    """Median seconds of the values, of values + qml.jacobian, and of the device's own
    execute_and_compute_derivatives on the preprocessed batch; the batch size, values and Jacobian."""
    frozen = pnp.array(w0, requires_grad=False)
    t_val, vals = median_time(lambda: np.stack(qnn(frozen, X)), repeats)
    w = pnp.array(w0, requires_grad=True)
    jac_fn = qml.jacobian(lambda w: qml.math.stack(qnn(w, X)))
    t_jac, jac = median_time(lambda: jac_fn(w), repeats)
    # What the device itself is asked for: execute_and_compute_derivatives on the preprocessed batch
    # (one broadcast tape for pyqml.qubit, 150 tapes for the others; default.qubit with its adjoint here).
    dq = qnn if name != "default.qubit" else qml.QNode(qnn.func, qml.device("default.qubit", wires=4),
                                                       diff_method="adjoint")
    batch, _ = qml.workflow.construct_batch(dq, level="device")(w, X)
    config = qml.workflow.construct_execution_config(dq)(w, X)
    numpy_batch, _ = qml.transforms.convert_to_numpy_parameters(batch)
    t_dev, _ = median_time(lambda: dq.device.execute_and_compute_derivatives(numpy_batch, config), repeats)
    return t_val, t_jac, t_dev, len(batch), vals, np.asarray(jac)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--devices", default="pyqml.qubit,lightning.qubit,default.qubit,default.qubit+jax")
    ap.add_argument("--json", default=None, help="write the measurements to this JSON file")
    args = ap.parse_args()

    X, _ = load_iris()
    X = np.asarray(X, dtype=float)
    X = (X - X.mean(0)) / X.std(0)
    shape = qml.StronglyEntanglingLayers.shape(n_layers=2, n_wires=4)
    w0 = np.random.default_rng(0).uniform(0, 2 * np.pi, shape)

    rows, ref = [], None
    for name in args.devices.split(","):
        if name == "default.qubit+jax":
            try:
                t_val, t_jac, compile_s, vals, jac = measure_jax(w0, X, args.repeats)
            except ImportError as e:
                print(f"{name}: not available ({e})")
                continue
            t_dev, n_tapes = float("nan"), 1
            print(f"{name}: jit compilation of values + Jacobian took {compile_s:.2f} s (not timed)")
        else:
            try:
                qnn = make_qnode(name)
            except Exception as e:  # noqa: BLE001 - a device that is not installed is reported, not fatal
                print(f"{name}: not available ({type(e).__name__}: {e})")
                continue
            t_val, t_jac, t_dev, n_tapes, vals, jac = measure(name, qnn, w0, X, args.repeats)
        if ref is None:
            ref = (vals, jac)
        err = max(np.abs(vals - ref[0]).max(), np.abs(jac - ref[1]).max())
        rows.append((name, t_val, t_jac, t_dev, n_tapes, err))

    print(f"seed QNN: 4 wires, 2 layers, 150 rows; Jacobian shape {ref[1].shape}; medians of {args.repeats}")
    print(f"{'device':<16} {'values [ms]':>12} {'values+jac [ms]':>16} {'device jac [ms]':>16} {'tapes':>6} "
          f"{'max |diff|':>11}")
    for name, tv, tj, td, nt, err in rows:
        print(f"{name:<16} {1e3 * tv:12.2f} {1e3 * tj:16.2f} {1e3 * td:16.2f} {nt:6d} {err:11.1e}")
    base = rows[0]
    for name, tv, tj, td, _, _ in rows[1:]:
        print(f"{name} / {base[0]}: values {tv / base[1]:.1f}x, values+jac {tj / base[2]:.1f}x, "
              f"device values+jac {td / base[3]:.1f}x")

    overhead = per_tape_overhead(w0, X[0], args.repeats,
                                 [d for d in ("pyqml.qubit", "lightning.qubit") if d in args.devices.split(",")])
    print("per-tape overhead, one 4-wire tape (seed QNN, one row), median per call:")
    print(f"{'device':<16} {'qml.execute values [us]':>24} {'device values+jac [us]':>24}")
    for name, t in overhead.items():
        print(f"{name:<16} {1e6 * t['execute_values_s']:24.1f} {1e6 * t['device_values_and_jacobian_s']:24.1f}")
    if args.json:
        record = {
            "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.processor() or platform.machine(),
            "pennylane": qml.__version__, "repeats": args.repeats, "rows": int(X.shape[0]),
            "w1": [{"device": n, "values_s": tv, "values_and_jacobian_s": tj, "device_values_and_jacobian_s": td,
                    "tapes": nt, "max_abs_diff": err} for n, tv, tj, td, nt, err in rows],
            "per_tape_overhead": overhead,
        }
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1, default=float)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
