"""The executor protocol: one interface for every simulation method and every measurement.

A *method* ("statevector", "tensornet", ...) is an :class:`Executor` subclass registered with
:func:`register_method`. It declares

- ``supports``: the measurements it can compute, from :data:`MEASUREMENTS`;
- ``options``: the method options it takes, with their defaults (``optimize=`` for the tensor network; room
  for ``max_bond=``, ``noise=``, ``shots=``, ``device=`` of later methods);
- ``estimate(circuit, observables, measurement, precision, **options)``: its own cost estimate, an
  :class:`Estimate` (flops and bytes, or infeasible with the reason).

An executor is built once per (circuit, observables, method, precision, options) and cached on the circuit
(``Circuit.executor``); it is then called on whole batches:

- ``expval(weights, inputs)`` -> (rows, n_obs)
- ``var(weights, inputs)`` -> (rows, n_obs)
- ``jacobian(weights, inputs)`` -> values (rows, n_obs), d/dweights (rows, n_obs, n_weights),
  d/dinputs (rows, n_obs, n_inputs)
- ``vjp(weights, inputs, cotangent)`` -> values, cot . d/dweights (n_weights,), cot . d/dinputs (rows, n_inputs)
- ``probs(weights, inputs, wires)`` -> (rows, 2^k); ``sample(weights, inputs, wires, shots, seed)`` ->
  (rows, shots, k) of 0/1; ``state(weights, inputs)`` -> (rows, 2^n); ``amplitude(weights, inputs, bits)`` ->
  (rows,) complex
- ``expval_angles(angles)`` -> (rows, n_obs) for explicit gate angles (parameter-shift references)

``weights`` is (n_weights,) shared by every row, or (rows, n_weights); ``inputs`` is (rows, n_inputs) or None.

``method="auto"`` takes, among the methods that support the measurement, the one with the lowest estimate
(registers of at most :data:`SMALL_REGISTER` wires go to the state vector without planning anything else).
Asking a method for a measurement it does not support raises a ValueError naming the methods that can.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _core

MEASUREMENTS = ("expval", "var", "probs", "sample", "state", "amplitude", "jacobian", "vjp")
PRECISIONS = ("complex128", "complex64")
# Option names that methods take or will take; an option no method declares is refused by name.
KNOWN_OPTIONS = ("optimize", "max_bond", "cutoff", "cutoff_mode", "noise", "shots", "device", "executor",
                 "target_size", "recompute")
# Registers this small always run on the state vector under "auto" (planning a network costs more).
SMALL_REGISTER = 12
# Noisy registers this small run on the density matrix under "auto".
SMALL_NOISY_REGISTER = 6
# Noisy registers up to this width plan a network under "auto" only where it can gain over the dense methods
# (``Executor.considered``: the tensor network, when some light cone leaves wires out).
NOISY_DENSE_REGISTER = 20
# Methods whose results carry sampling noise (a standard error). "auto" takes an exact method whenever one is
# feasible and its estimate is at most EXACT_PREFERENCE times the cheapest stochastic one's: a user who did
# not ask for Monte Carlo gets reproducible, exact numbers unless exactness is out of reach.
STOCHASTIC_METHODS = ("trajectories",)
EXACT_PREFERENCE = 100.0


@dataclass(frozen=True)
class Estimate:
    """A method's cost estimate for one call: real flops, peak bytes, and whether it can run at all."""

    flops: float
    bytes: float
    feasible: bool = True
    reason: str = ""

    @classmethod
    def refused(cls, reason: str) -> Estimate:
        return cls(math.inf, math.inf, False, reason)


class Executor(abc.ABC):
    """A circuit and observables compiled for one method. Subclasses set ``method``, ``supports`` and
    ``options`` and implement ``estimate`` and the measurements they support."""

    method: ClassVar[str]
    supports: ClassVar[frozenset]
    options: ClassVar[dict] = {}
    # Whether the method simulates noise channels (circuits with channels go only to these methods).
    simulates_noise: ClassVar[bool] = False

    def __init__(self, circuit, observables, precision: str = "complex128", **options):
        self.circuit = circuit
        self.observables = list(observables)
        self.precision = precision
        self.method_options = {**type(self).options, **options}

    @classmethod
    @abc.abstractmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, **details) -> Estimate:
        """Cost of ``measurement`` on ``circuit``; ``details`` holds the method's options and the
        measurement's arguments (``wires=``, ``shots=``)."""

    @classmethod
    def considered(cls, circuit, observables, measurement: str, options: dict) -> bool:
        """Whether "auto" should ask this method for an estimate at all (a method whose estimate is itself
        costly, like planning a network, may decline cases where it cannot win)."""
        return True

    @property
    def n_observables(self) -> int:
        return len(self.observables)

    def _unsupported(self, what: str):
        raise ValueError(unsupported_message(self.method, what))

    # Measurements; a method overrides those in ``supports``.
    def expval(self, weights, inputs=None):
        self._unsupported("expval")

    def var(self, weights, inputs=None):
        self._unsupported("var")

    def jacobian(self, weights, inputs=None):
        self._unsupported("jacobian")

    def vjp(self, weights, inputs, cotangent):
        self._unsupported("vjp")

    def probs(self, weights, inputs, wires):
        self._unsupported("probs")

    def sample(self, weights, inputs, wires, shots: int, seed: int):
        self._unsupported("sample")

    def state(self, weights, inputs=None):
        self._unsupported("state")

    def amplitude(self, weights, inputs, bits):
        self._unsupported("amplitude")

    def expval_angles(self, angles):
        self._unsupported("expval")

    def cost(self) -> float:
        """Complex multiply-adds of one forward evaluation of every observable (for one row)."""
        return math.inf


_METHODS: dict[str, type] = {}


def register_method(cls_or_name, factory=None) -> None:
    """Register an :class:`Executor` subclass under its ``method`` name (``register_method(cls)``; the form
    ``register_method(name, cls)`` also works)."""
    cls = factory if factory is not None else cls_or_name
    name = cls_or_name if factory is not None else cls.method
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise TypeError(f"a method is an Executor subclass, got {cls!r}")
    unknown = set(getattr(cls, "supports", ())) - set(MEASUREMENTS)
    if unknown:
        raise ValueError(f"{name}: unknown measurements {sorted(unknown)}; known: {MEASUREMENTS}")
    _METHODS[name] = cls


def _load_builtin() -> None:
    if "statevector" not in _METHODS:
        from .. import statevector  # noqa: F401  (registers itself)
    if "tensornet" not in _METHODS:
        from .. import tensornet  # noqa: F401
    if "mps" not in _METHODS:
        from .. import mps  # noqa: F401

    if "densitymatrix" not in _METHODS:
        from .. import densitymatrix  # noqa: F401

    if "trajectories" not in _METHODS:
        from .. import trajectories  # noqa: F401


def available_methods() -> list[str]:
    _load_builtin()
    return sorted(_METHODS) + ["auto"]


def method_class(name: str) -> type:
    if name in _METHODS:  # registered (the state vector and the tensor network are, from ``import pyqml``)
        return _METHODS[name]
    _load_builtin()
    if name not in _METHODS:
        raise ValueError(f"unknown method {name!r}; available: {available_methods()}")
    return _METHODS[name]


def methods_supporting(measurement: str) -> list[str]:
    _load_builtin()
    return [n for n, c in _METHODS.items() if measurement in c.supports]


def method_options() -> dict[str, dict]:
    """Per method, the options it takes and their defaults."""
    _load_builtin()
    return {n: dict(c.options) for n, c in _METHODS.items()}


def noise_methods() -> list[str]:
    """The registered methods that simulate noise channels."""
    _load_builtin()
    return [n for n, c in _METHODS.items() if c.simulates_noise]


def is_noisy(circuit, options: dict | None = None) -> bool:
    """True when the circuit holds channels or a noise model is given (``noise=``)."""
    from .channels import has_channels

    return has_channels(circuit) or (options or {}).get("noise") is not None


def noise_message(method: str) -> str:
    can = noise_methods()
    return (f"method {method!r} does not simulate noise channels; methods that do: "
            f"{', '.join(repr(m) for m in can) if can else 'none'}")


def unsupported_message(method: str, measurement: str) -> str:
    can = methods_supporting(measurement)
    return (f"method {method!r} cannot compute {measurement}; methods that can: "
            f"{', '.join(repr(m) for m in can) if can else 'none'}")


def check_options(method: str, precision: str, options: dict) -> None:
    """ValueError for an unknown precision, method or option, or an option the method does not take."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    # Nothing to look up in the methods not yet imported (a qnode's first call imports none of them): "auto"
    # without options, or a registered method given only options it takes.
    if not options and method == "auto":
        return
    cls = _METHODS.get(method)
    if cls is not None and all(key in cls.options for key in options):
        return
    _load_builtin()
    if method != "auto" and method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; available: {available_methods()}")
    for key in options:
        takers = [n for n, c in _METHODS.items() if key in c.options]
        if method == "auto":
            if not takers:
                known = sorted({k for c in _METHODS.values() for k in c.options})
                extra = "" if key in KNOWN_OPTIONS else f" (options methods take: {known})"
                raise ValueError(f"no method takes the option {key!r}{extra}")
        elif key not in _METHODS[method].options:
            raise ValueError(f"method {method!r} does not take the option {key!r}; "
                             + (f"methods that do: {', '.join(repr(t) for t in takers)}" if takers else
                                f"it takes: {sorted(_METHODS[method].options) or 'no options'}"))


def options_for(method: str, options: dict) -> dict:
    """The subset of ``options`` that ``method`` takes (what "auto" passes on)."""
    taken = method_class(method).options
    return {k: v for k, v in options.items() if k in taken}


def make_executor(circuit, observables, method: str, precision: str, measurement: str = "expval", **options):
    """A new executor (``Circuit.executor`` caches them); ``method`` is a concrete method name."""
    check_options(method, precision, options)
    cls = method_class(method)
    if measurement not in cls.supports:
        raise ValueError(unsupported_message(method, measurement))
    if not cls.simulates_noise and is_noisy(circuit, options):
        raise ValueError(noise_message(method))
    return cls(circuit, observables, precision, **options)


def estimates(circuit, observables, measurement: str, precision: str, options: dict | None = None,
              methods=None, **details) -> dict[str, Estimate]:
    """Every method's estimate for ``measurement`` (methods that do not support it are left out; ``methods``:
    only those)."""
    options = options or {}
    out = {}
    noisy = is_noisy(circuit, options)
    for name in methods_supporting(measurement):
        if noisy and not _METHODS[name].simulates_noise or methods is not None and name not in methods:
            continue
        try:
            out[name] = _METHODS[name].estimate(circuit, observables, measurement, precision,
                                                **options_for(name, options), **details)
        except MemoryError as e:  # MemoryLimitError included
            out[name] = Estimate.refused(str(e))
    return out


def choose_method(circuit, observables, precision: str = "complex128", measurement: str = "expval",
                  options: dict | None = None, **details) -> str:
    """The method "auto" runs: the cheapest by the methods' own estimates among those that support the
    measurement. Raises ``MemoryLimitError`` (or ValueError) with every method's reason when none can."""
    opts = options or {}
    sv = _METHODS.get("statevector")
    if (circuit.n_wires <= SMALL_REGISTER and sv is not None and measurement in sv.supports
            and opts.get("device", "cpu") in ("cpu", None) and opts.get("noise") is None
            and not is_noisy(circuit, opts)):
        # What the rules below choose for a small noiseless register on the CPU, without importing the
        # methods that are not loaded yet (a new qnode's first call).
        return "statevector"
    _load_builtin()
    can = methods_supporting(measurement)
    if (options or {}).get("device", "cpu") not in ("cpu", None):
        # A device other than the CPU: only the methods that run there (never a silent fallback to the CPU),
        # and a missing CUDA build or GPU named before any method is asked for an estimate.
        can = [m for m in can if "device" in _METHODS[m].options]
        from ..statevector.executor import require_gpu

        require_gpu(options["device"])

    if is_noisy(circuit, options):
        noisy = [n for n in can if _METHODS[n].simulates_noise]
        if not noisy:
            raise ValueError(f"no method computes {measurement} on a circuit with noise; methods that simulate "
                             f"noise: {', '.join(repr(m) for m in noise_methods()) or 'none'}")
        can = noisy
    if (options or {}).get("noise") is not None:
        # A noise model changes the answer: only the methods that apply one (never silently dropped).
        can = [n for n in can if "noise" in _METHODS[n].options]
    if not can:
        raise ValueError(f"no method computes {measurement}"
                         + (f" on device={options['device']!r}" if (options or {}).get("device") else ""))
    if len(can) == 1:
        return can[0]  # its own guard says precisely what does not fit
    if circuit.n_wires <= SMALL_REGISTER and "statevector" in can:
        return "statevector"
    if circuit.n_wires <= SMALL_NOISY_REGISTER and "densitymatrix" in can:
        return "densitymatrix"  # 4^n amplitudes: cheaper than planning any network at this size
    can = [n for n in can if _METHODS[n].considered(circuit, observables, measurement, options or {})] or can
    if len(can) == 1:
        return can[0]
    ests = estimates(circuit, observables, measurement, precision, options, methods=can, **details)
    feasible = [(e.flops, i, n) for i, (n, e) in enumerate(ests.items()) if e.feasible]
    if not feasible:
        reasons = "; ".join(f"{n}: {e.reason}" for n, e in ests.items())
        raise _core.MemoryLimitError(f"no method can compute {measurement} on {circuit.n_wires} wires: {reasons}")
    exact = [f for f in feasible if f[2] not in STOCHASTIC_METHODS]
    stochastic = [f for f in feasible if f[2] in STOCHASTIC_METHODS]
    if exact and stochastic and min(exact)[0] <= EXACT_PREFERENCE * min(stochastic)[0]:
        return min(exact)[2]
    return min(feasible)[2]


def hashable(value: Any):
    """A cache-key form of an option value."""
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)
