"""Helpers shared by the peer adapters: workload access and gradient bookkeeping."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

import workloads as W  # noqa: E402  (bench/workloads.py)

REFERENCE_DIR = os.environ.get(
    "PYQML_REFERENCE_DIR",
    os.path.join(os.path.dirname(os.path.dirname(BENCH)), "shared", "reference"),
)


def load_reference(name):
    """Reference JSON from the shared reference folder, or None when absent."""
    for base in (REFERENCE_DIR, os.path.join(os.path.dirname(BENCH), "shared", "reference"),
                 "/work/shared/reference"):
        path = os.path.join(base, name)
        if os.path.exists(path):
            with open(path) as f:
                return json.load(f)
    return None


def w1_data():
    """Default W1 inputs (150, 4)."""
    return W.w1_inputs()


def w1_template():
    """W1 circuit structure with a zero input row; ``data_positions`` are the op
    positions of the RX(x_j) embedding gates (op ``j`` carries feature ``j``)."""
    circ = W.w1_circuit(np.zeros(4))
    data_positions = [k for k, op in enumerate(circ.ops) if op.index and op.index[0] is None]
    assert [circ.ops[k].wires[0] for k in data_positions] == [0, 1, 2, 3]
    return circ, data_positions


def expand_rot(circ):
    """Gate list with every ``Rot`` replaced by RZ, RY, RZ (same angle bookkeeping)."""
    out = []
    for op in circ.ops:
        if op.name == "Rot":
            (a, b, c), (ia, ib, ic), (sa, sb, sc) = op.params, op.index, op.scale
            out.append(W.Op("RZ", op.wires, (a,), (ia,), (sa,)))
            out.append(W.Op("RY", op.wires, (b,), (ib,), (sb,)))
            out.append(W.Op("RZ", op.wires, (c,), (ic,), (sc,)))
        else:
            out.append(op)
    return out


def scatter_gradient(ops, angle_grads, n_params, theta_shape):
    """Turn per-angle derivatives (one entry per trainable angle, in op order) into the
    gradient w.r.t. theta (chain rule through ``angle = scale * theta[index]``)."""
    g = np.zeros(n_params)
    k = 0
    for op in ops:
        for i, s in zip(op.index, op.scale):
            if i is None:
                continue
            g[i] += s * angle_grads[k]
            k += 1
    assert k == len(angle_grads), (k, len(angle_grads))
    return g.reshape(theta_shape)


def trainable_angle_count(ops):
    return sum(1 for op in ops for i in op.index if i is not None)
