"""Measurements: inside a traced function they describe what to return; called on a Circuit they compute.

Inside ``@pq.qnode``: ``return [pq.expval(pq.Z(i)) for i in range(4)]``, ``pq.var(obs)``,
``pq.probs(wires=[0, 1])``, ``pq.state()``, ``pq.sample(wires=[0], shots=100, seed=1)``.

On a circuit: ``pq.expval(c, obs, weights=w, inputs=X, method="tensornet")`` and ``pq.jacobian(...)``.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from .observables import Observable, as_observable


class Measurement:
    """What a traced function returns: kind in {'expval', 'var', 'probs', 'state', 'sample'}."""

    def __init__(self, kind: str, obs: Observable | None = None, wires=None, shots: int | None = None,
                 seed: int | None = None):
        self.kind = kind
        self.obs = obs
        self.wires = None if wires is None else unique_wires(wires, kind)
        self.shots = shots
        self.seed = seed

    def __repr__(self) -> str:
        arg = self.obs if self.obs is not None else (f"wires={self.wires}" if self.wires is not None else "")
        return f"{self.kind}({arg})"


def _is_circuit(x) -> bool:
    from .circuit import Circuit

    return isinstance(x, Circuit)


def _obs_list(obs) -> tuple[list[Observable], bool]:
    if isinstance(obs, (list, tuple)):
        return [as_observable(o) for o in obs], True
    return [as_observable(obs)], False


_isfinite = np.isfinite


def real_array(values, name: str) -> np.ndarray:
    """``values`` as a float array; TypeError if None or not real numbers (complex, strings, dates, objects),
    ValueError if any is NaN or infinite."""
    if type(values) is np.ndarray and values.dtype == np.float64:  # the common case: checks only finiteness
        arr = values
        if not _isfinite(arr).all():
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"{name}{list(bad)} is {arr[bad]}: {name} must be finite (no NaN or infinite values)")
        return arr
    if values is None:
        raise TypeError(f"{name} is None: pass an array of real numbers")
    if np.iscomplexobj(values):
        raise TypeError(f"{name} must be real numbers, got complex values")
    kind = np.asarray(values).dtype.kind
    if kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {np.asarray(values).dtype}")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {type(values).__name__}") from None
    if not np.all(np.isfinite(arr)):
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"{name}{list(bad)} is {arr[bad]}: {name} must be finite (no NaN or infinite values)")
    return arr


def _wire(w, what: str) -> int:
    if isinstance(w, (bool, np.bool_)) or not isinstance(w, (numbers.Integral, np.integer)):
        if isinstance(w, (float, np.floating)) and float(w).is_integer():
            return int(w)
        raise ValueError(f"{what}: wires are integers, got {w!r}")
    return int(w)


def unique_wires(wires, what: str) -> list[int]:
    """The wires as a list of ints; ValueError if one is repeated, negative or not an integer."""
    ws = [_wire(wires, what)] if np.isscalar(wires) else [_wire(w, what) for w in wires]
    if len(set(ws)) != len(ws):
        raise ValueError(f"{what}: wires {ws} are repeated")
    if any(w < 0 for w in ws):
        raise ValueError(f"{what}: wires {ws} include a negative wire")
    return ws


def _weights_for(circuit, weights) -> np.ndarray:
    if weights is None:
        if circuit.n_weights == 0:
            return np.zeros(0)
        if circuit.default_weights is not None:
            return circuit.default_weights
        raise ValueError(f"the circuit has {circuit.n_weights} weights; pass weights=")
    w = real_array(weights, "weights")
    if w.ndim > 1 and w.size == circuit.n_weights:
        w = w.ravel()
    if w.ndim != 1 or w.size != circuit.n_weights:
        if not (w.ndim == 2 and w.shape[1] == circuit.n_weights):
            raise ValueError(f"weights must hold {circuit.n_weights} values, got shape {w.shape}")
    return w


def _inputs_for(circuit, inputs) -> tuple[np.ndarray | None, bool]:
    if inputs is None:
        if circuit.n_inputs:
            raise ValueError(f"the circuit takes {circuit.n_inputs} inputs per row; pass inputs=")
        return None, False
    x = real_array(inputs, "inputs")
    if x.ndim == 1:
        x, batched = x[None, :], False
    elif x.ndim == 2:
        batched = True
    else:
        raise ValueError(f"inputs must be (n_inputs,) or (rows, n_inputs), got shape {x.shape}")
    derived = getattr(circuit, "derived_inputs", None)
    if derived is not None:
        return derived.expand(x), batched
    if x.shape[1] != circuit.n_inputs:
        raise ValueError(f"inputs have {x.shape[1]} features per row, the circuit takes {circuit.n_inputs}")
    return x, batched


def expval(*args, weights=None, inputs=None, method: str = "auto", precision: str = "complex128",
           shots=None, seed=None, return_stderr: bool = False, **options):
    """Expectation value(s).

    ``pq.expval(obs)`` inside a traced function returns a :class:`Measurement`.
    ``pq.expval(circuit, obs, weights=..., inputs=..., method=..., **options)`` computes: shape (n_obs,) for a
    list of observables (a scalar for one), with a leading batch axis when ``inputs`` is 2-D. ``options`` go to
    the method (e.g. ``optimize="cotengra"`` for "tensornet").

    ``shots=N`` estimates from N shots per qubit-wise commuting set of Pauli words (see
    :mod:`pyqml.frontend.shots`; :func:`pyqml.shot_estimate` also returns the standard error), reproducible
    for an integer ``seed``; a shot vector ``shots=[100, 1000]`` returns one result per entry (a tuple).
    ``return_stderr=True`` returns ``(values, standard errors)`` of a sampling method (``method="trajectories",
    trajectories=N, seed=s``: there ``seed`` seeds the trajectories).
    ``executor=client`` (a ``dask.distributed`` Client) runs the call's rows and slices as tasks on that cluster
    (``pyqml.distributed``).
    """
    if len(args) == 1 and not _is_circuit(args[0]):
        return Measurement("expval", as_observable(args[0]))
    if len(args) != 2 or not _is_circuit(args[0]):
        raise TypeError("use pq.expval(observable) in a traced function or pq.expval(circuit, observables, ...)")
    if method == "trajectories" and shots is None and seed is not None:
        options["seed"] = seed  # the trajectories' own seed (a method option)
        seed = None
    if return_stderr:
        return _expval_stderr(*args, weights=weights, inputs=inputs, method=method, precision=precision, **options)
    return _per_observable("expval", *args, weights=weights, inputs=inputs, method=method, precision=precision,
                           shots=shots, seed=seed, **options)


def _expval_stderr(circuit, obs, weights, inputs, method, precision, **options):
    """(values, standard errors) of a method that estimates (``expval_stderr``), shaped as expval."""
    obs, many = _obs_list(obs)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    ex = circuit.executor(obs, method, precision, "expval", **options)
    if not hasattr(ex, "expval_stderr"):
        raise ValueError(f"return_stderr=True needs a method that estimates by sampling (method='trajectories'); "
                         f"method {ex.method!r} is exact")
    vals, se = ex.expval_stderr(w, x)
    if not batched and vals.shape[0] == 1:
        vals, se = vals[0], se[0]
    return (vals, se) if many else (vals[..., 0], se[..., 0])


def jacobian(circuit, observables, weights=None, inputs=None, method: str = "auto",
             precision: str = "complex128", **options):
    """Values and exact gradients: ``vals, d_weights, d_inputs``.

    Shapes: (n_obs,), (n_obs, n_weights), (n_obs, n_inputs), each with a leading batch axis when ``inputs``
    is 2-D, and without the n_obs axis when a single observable is given.
    """
    obs, many = _obs_list(observables)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    client, dist = options.pop("executor", None), options.pop("_distribute", None) or {}
    ex = circuit.executor(obs, method, precision, "jacobian", **options)
    if client is not None:
        from ..distributed import run

        vals, dw, dx = run(ex, "jacobian", w, x, client, **dist)
    else:
        vals, dw, dx = ex.jacobian(w, x)
    if x is not None and getattr(circuit, "derived_inputs", None) is not None:
        dx = circuit.derived_inputs.pullback(x, dx)
    if not batched and vals.shape[0] == 1:
        vals, dw, dx = vals[0], dw[0], dx[0]
    if not many:
        vals, dw, dx = vals[..., 0], dw[..., 0, :], dx[..., 0, :]
    return vals, dw, dx


def var(*args, weights=None, inputs=None, method: str = "auto", precision: str = "complex128", shots=None,
        seed=None, **options):
    """Variance ``<O^2> - <O>^2``; in a traced function or on a circuit (``shots=`` as :func:`expval`)."""
    if len(args) == 1 and not _is_circuit(args[0]):
        return Measurement("var", as_observable(args[0]))
    return _per_observable("var", *args, weights=weights, inputs=inputs, method=method, precision=precision,
                           shots=shots, seed=seed, **options)


def _per_observable(kind: str, circuit, obs, weights, inputs, method, precision, shots=None, seed=None,
                    **options):
    """``kind`` ("expval" or "var") of observables on a circuit: (n_obs,), a scalar for one observable, with a
    leading batch axis when ``inputs`` is 2-D; a tuple of those for a shot vector."""
    from . import shots as shot_mod

    vec = shot_mod.check_shots(shots)
    obs, many = _obs_list(obs)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)

    def shape(vals):
        if not batched and vals.shape[0] == 1:
            vals = vals[0]
        return vals if many else vals[..., 0]

    client, dist = options.pop("executor", None), options.pop("_distribute", None) or {}
    if vec is None:
        ex = circuit.executor(obs, method, precision, kind, **options)
        if client is not None:
            from ..distributed import run

            return shape(run(ex, kind, w, x, client, **dist))
        return shape(getattr(ex, kind)(w, x))
    if client is not None:
        raise ValueError("executor= (a Dask client) runs exact calls; finite shots run locally: drop one of them")
    rng = shot_mod.as_rng(seed)
    fn = shot_mod.estimate_expvals if kind == "expval" else shot_mod.estimate_vars
    out = []
    for n in vec:
        r = fn(circuit, obs, w, x, n, rng, method, precision, options)
        out.append(shape(r.values if kind == "expval" else r))
    return out[0] if len(vec) == 1 and not isinstance(shots, (list, tuple, np.ndarray)) else tuple(out)


def shot_estimate(circuit, observables, shots: int, seed=None, weights=None, inputs=None, method: str = "auto",
                  precision: str = "complex128", **options):
    """Finite-shot expectation values with their standard errors: a :class:`pyqml.frontend.shots.ShotEstimate`
    whose ``values``, ``variance`` and ``stderr`` have the shape :func:`expval` returns."""
    from . import shots as shot_mod

    vec = shot_mod.check_shots(shots)
    if vec is None or len(vec) != 1:
        raise ValueError(f"shot_estimate takes one positive shot count, got {shots!r}")
    obs, many = _obs_list(observables)
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    est = shot_mod.estimate_expvals(circuit, obs, w, x, vec[0], shot_mod.as_rng(seed), method, precision, options)
    vals, var = est.values, est.variance
    if not batched and vals.shape[0] == 1:
        vals, var = vals[0], var[0]
    if not many:
        vals, var = vals[..., 0], var[..., 0]
    return shot_mod.ShotEstimate(vals, var, vec[0])


def check_shots_seed(shots, seed) -> None:
    """ValueError unless shots is a positive integer and seed an integer in [0, 2^64)."""
    if isinstance(shots, bool) or not isinstance(shots, (numbers.Integral, np.integer)) or shots < 1:
        raise ValueError(f"shots must be a positive integer, got {shots!r}")
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2^64), got {seed!r}")


def _wires_for(circuit, wires, what: str) -> list[int]:
    ws = list(range(circuit.n_wires)) if wires is None else unique_wires(wires, what)
    bad = [w for w in ws if w >= circuit.n_wires]
    if bad:
        raise ValueError(f"{what}: wire {bad[0]} out of range for {circuit.n_wires} wires (wires {ws})")
    return ws


def probs(circuit=None, wires: Sequence[int] | None = None, weights=None, inputs=None, method: str = "auto",
          precision: str = "complex128", shots=None, seed=None, **options):
    """Marginal probabilities of ``wires`` (first wire most significant); with ``shots=`` the empirical
    frequencies of that many shots (a tuple of them for a shot vector)."""
    if circuit is None or not _is_circuit(circuit):
        if circuit is not None and wires is None:
            wires = circuit
        return Measurement("probs", wires=wires)
    wires = _wires_for(circuit, wires, "probs")
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    from . import shots as shot_mod

    vec = shot_mod.check_shots(shots)
    if vec is not None:
        rng = shot_mod.as_rng(seed)
        out = [shot_mod.estimate_probs(circuit, wires, w, x, n, rng, method, precision, options) for n in vec]
        out = [o if batched else o[0] for o in out]
        return out[0] if len(vec) == 1 and not isinstance(shots, (list, tuple, np.ndarray)) else tuple(out)
    ex = _executor(circuit, method, precision, "probs", options, wires=wires)
    out = ex.probs(w, x, wires)
    return out if batched else out[0]


def state(circuit=None, weights=None, inputs=None, method: str = "auto", precision: str = "complex128", **options):
    """The state vector (2^n amplitudes, wire 0 most significant)."""
    if circuit is None:
        return Measurement("state")
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    out = circuit.executor([], method, precision, "state", **options).state(w, x)
    return out if batched else out[0]


def amplitude(circuit, bits, weights=None, inputs=None, method: str = "auto", precision: str = "complex128",
              **options):
    """``<bits|U|0>`` (wire 0 first): a complex scalar, or one per row when ``inputs`` is 2-D."""
    b = [int(v) for v in bits]
    if len(b) != circuit.n_wires or any(v not in (0, 1) for v in b):
        raise ValueError(f"bits must be {circuit.n_wires} values of 0 or 1, got {list(bits)!r}")
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    out = circuit.executor([], method, precision, "amplitude", **options).amplitude(w, x, b)
    return out if (batched or np.ndim(w) == 2) else out[0]


def sample(circuit=None, wires=None, shots: int | None = None, seed: int | None = None, weights=None, inputs=None,
           method: str = "auto", precision: str = "complex128", **options):
    """Samples; reproducible for a given seed.

    - ``pq.sample(op)`` inside a qnode (``op`` an observable: ``pq.Z(0)``, ``pq.X(0) @ pq.Z(1)``): per shot, the
      eigenvalue of ``op`` measured (shape (shots,)), as PennyLane's ``qml.sample(op)``; the shots come from
      the qnode (``@pq.qnode(..., shots=N)`` or ``pq.device(..., shots=N)``) unless given here.
    - ``pq.sample(wires=[0, 1], shots=100, seed=1)`` inside a qnode, or ``pq.sample(circuit, wires, shots=,
      seed=, weights=, inputs=)``: computational-basis samples, shape (shots, len(wires)) of 0/1 (1000 shots and
      seed 0 when neither the call nor the qnode sets them).
    """
    from .ops import Operation

    if circuit is not None and not _is_circuit(circuit) and isinstance(circuit, (Observable, Operation)):
        if wires is not None:
            raise TypeError("pq.sample(op) measures an observable; pass wires= only to sample bits")
        if shots is not None or seed is not None:
            check_shots_seed(1 if shots is None else shots, 0 if seed is None else seed)
        return Measurement("sample", obs=as_observable(circuit), shots=None if shots is None else int(shots),
                           seed=None if seed is None else int(seed))
    if circuit is None or not _is_circuit(circuit):
        if circuit is not None and wires is None:
            wires = circuit
        check_shots_seed(1000 if shots is None else shots, 0 if seed is None else seed)
        return Measurement("sample", wires=wires, shots=None if shots is None else int(shots),
                           seed=None if seed is None else int(seed))
    shots = 1000 if shots is None else shots
    seed = 0 if seed is None else seed
    check_shots_seed(shots, seed)
    wires = _wires_for(circuit, wires, "sample")
    w = _weights_for(circuit, weights)
    x, batched = _inputs_for(circuit, inputs)
    ex = _executor(circuit, method, precision, "sample", options, wires=wires, shots=shots)
    out = ex.sample(w, x, wires, shots, seed)
    return out if batched else out[0]


def _executor(circuit, method, precision, measurement, options, **details):
    """The executor for a measurement without observables, "auto" resolved with the measurement's
    arguments (which wires, how many shots)."""
    if method == "auto":
        from .execution import choose_method, options_for

        method = choose_method(circuit, [], precision, measurement, options, **details)
        options = options_for(method, options)
    return circuit.executor([], method, precision, measurement, **options)
