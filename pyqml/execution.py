"""Method dispatch: which engine runs a compiled circuit ("statevector", "tensornet" or "auto").

An executor is built once per (circuit, observables, method, precision) and then called on batches:

- ``expval(weights, inputs)`` -> (rows, n_obs)
- ``jacobian(weights, inputs)`` -> values (rows, n_obs), d/dweights (rows, n_obs, n_weights),
  d/dinputs (rows, n_obs, n_inputs)
- ``vjp(weights, inputs, cotangent)`` -> values, cot . d/dweights (n_weights,), cot . d/dinputs (rows, n_inputs)
- ``expval_angles(angles)`` -> (rows, n_obs) for explicit gate angles (parameter-shift references)

``weights`` is (n_weights,) shared by every row, or (rows, n_weights); ``inputs`` is (rows, n_inputs) or None.
"""
from __future__ import annotations

from typing import Callable

_FACTORIES: dict[str, Callable] = {}
PRECISIONS = ("complex128", "complex64")


def register_method(name: str, factory: Callable) -> None:
    """Register ``factory(circuit, observables, precision) -> executor`` under a method name."""
    _FACTORIES[name] = factory


def available_methods() -> list[str]:
    _load_builtin()
    return sorted(_FACTORIES) + ["auto"]


def _load_builtin() -> None:
    if "statevector" not in _FACTORIES:
        from . import statevector  # noqa: F401  (registers itself)
    if "tensornet" not in _FACTORIES:
        try:
            from . import tensornet  # noqa: F401
        except ImportError:
            pass


def make_executor(circuit, observables, method: str, precision: str):
    _load_builtin()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if method == "auto":
        method = choose_method(circuit, observables, precision)
    if method not in _FACTORIES:
        raise ValueError(f"unknown method {method!r}; available: {available_methods()}")
    return _FACTORIES[method](circuit, observables, precision)


def choose_method(circuit, observables, precision: str) -> str:
    """The cheaper method by the plans' own cost estimates (state vector when the tensor network method
    is absent or the register is small)."""
    chooser = getattr(_FACTORIES.get("tensornet"), "choose", None)
    if chooser is not None:
        return chooser(circuit, observables, precision)
    return "statevector"
