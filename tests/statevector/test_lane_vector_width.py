"""The lane kernels run eight lanes per 512-bit vector on CPUs with AVX-512 (x86-64-v4) and four per 256-bit
vector elsewhere (lanes.cpp, lane_run); PYQML_LANE_VECTOR_BITS=256 keeps the narrow build. Each lane sees the
same operations in the same order at either width, so the two must give the same bits: values, Jacobians and
VJPs of random circuits with every gate of the table (one-, two- and three-wire blocks, diagonals,
permutations, a product-state prefix), diagonal and non-diagonal observables, shared and per-row weights, both
precisions, and the shared-suffix path's values. On a CPU without AVX-512 both runs are narrow and the comparison is skipped."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/, where random_circuits lives

CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, HERE)
from random_circuits import NAMES, RandomCircuit, random_pauli_sum
import pyqml as pq
pq._core._set_sv_shared_suffix(False)
out = {"bits": pq._core._sv_lane_vector_bits()}
for n in (2, 4, 6):
    rng = np.random.default_rng(100 + n)
    rc = RandomCircuit(n, 2 * len(NAMES), rng, n_inputs=3, names=list(NAMES))
    c = rc.circuit()
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    wr = rng.uniform(-np.pi, np.pi, (19, rc.n_weights))
    X = rng.normal(size=(19, 3))
    general = [random_pauli_sum(n, rng, n_terms=3)[0] for _ in range(2)]
    diagonal = [pq.Z(0), pq.Z(n - 1) @ pq.Z(0) if n > 1 else pq.Z(0)]
    cot = rng.normal(size=(19, 2))
    for prec in ("complex128", "complex64"):
        for kind, obs in (("general", general), ("diagonal", diagonal)):
            for weights in (w, wr):
                key = f"{n}-{prec}-{kind}-{weights.ndim}"
                kw = dict(weights=weights, inputs=X, method="statevector", precision=prec)
                v = pq.expval(c, obs, **kw)
                jac = pq.jacobian(c, obs, **kw)
                vjp = c.executor(obs, "statevector", prec, "vjp").vjp(weights, X, cot)
                out[key] = [np.asarray(a).tobytes().hex() for a in (v, *jac, *vjp)]
# The shared-suffix path's chunk kernels (its suffix unitary on the rows) take the same widths.
pq._core._set_sv_shared_suffix(True, force=True)
for n in (2, 4, 6):
    rng = np.random.default_rng(200 + n)
    rc = RandomCircuit(n, 2 * len(NAMES), rng, n_inputs=3, names=list(NAMES))
    w = rng.uniform(-np.pi, np.pi, rc.n_weights)
    X = rng.normal(size=(37, 3))
    obs = [random_pauli_sum(n, rng, n_terms=3)[0], pq.Z(0)]
    out[f"shared-{n}"] = np.asarray(pq.expval(rc.circuit(), obs, weights=w, inputs=X,
                                              method="statevector")).tobytes().hex()
pq._core._set_sv_shared_suffix(True)
print(json.dumps(out))
""".replace("HERE", repr(HERE))


def run(bits):
    env = dict(os.environ)
    env.pop("PYQML_LANE_VECTOR_BITS", None)
    if bits:
        env["PYQML_LANE_VECTOR_BITS"] = bits
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_narrow_build_keeps_to_256_bits():
    assert run("256")["bits"] == 256


def test_both_widths_give_the_same_bits():
    wide, narrow = run(None), run("256")
    if wide["bits"] != 512:
        pytest.skip("this CPU has no AVX-512 (x86-64-v4): both runs take the 256-bit kernels")
    assert wide.keys() == narrow.keys() and len(wide) == 1 + 3 * 2 * 2 * 2 + 3
    for key in wide:
        if key != "bits":
            assert wide[key] == narrow[key], key
