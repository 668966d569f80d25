"""``pq.device(name, wires=..., shots=None, seed=None)``: PennyLane's device line, as a bundle of qnode options.

A device holds the register size, the simulation method its name stands for, the shots and one random
generator that every qnode built on it draws from (as PennyLane's devices do), so::

    dev = pq.device("default.qubit", wires=2, shots=1000, seed=7)

    @pq.qnode(dev)
    def circuit(x):
        pq.RX(x, wires=0)
        return pq.expval(pq.Z(0))

runs unchanged from PennyLane code. Names map to methods: the state-vector simulators of PennyLane
(``default.qubit``, ``lightning.qubit`` / ``.gpu`` / ``.kokkos``) and ``pyqml.qubit`` to "statevector";
``default.tensor`` and ``pyqml.tensor`` to the tensor network (``method="mps"`` picks a registered "mps"
method when one exists); ``pyqml.auto`` to "auto". ``method=`` overrides the name's choice.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .execution import available_methods, check_options
from .shots import as_rng, check_shots

DEVICE_METHODS = {
    "default.qubit": "statevector",
    "default.qubit.autograd": "statevector",
    "default.qubit.jax": "statevector",
    "default.qubit.torch": "statevector",
    "lightning.qubit": "statevector",
    "lightning.gpu": "statevector",
    "lightning.kokkos": "statevector",
    "pyqml.qubit": "statevector",
    "default.tensor": "tensornet",
    "pyqml.tensor": "tensornet",
    "pyqml.auto": "auto",
}
# PennyLane's default.tensor spells its methods "tn" and "mps".
_TENSOR_METHODS = {"tn": "tensornet", "mps": "mps"}


class Device:
    """Qnode options under a device's name: ``name``, ``wires`` (labels 0..n-1), ``n_wires``, ``method``,
    ``shots`` (None, an int or a shot vector), ``rng`` (shared by the qnodes built on it), ``options``."""

    def __init__(self, name: str, wires, shots=None, seed=None, method: str | None = None, **options):
        if not isinstance(name, str):
            raise TypeError(f"device name must be a string, got {name!r}")
        if name not in DEVICE_METHODS:
            raise ValueError(f"unknown device {name!r}; pyqml maps these names: {sorted(DEVICE_METHODS)}")
        if isinstance(wires, (int, np.integer)) and not isinstance(wires, bool):
            n = int(wires)
        elif isinstance(wires, Sequence) and not isinstance(wires, str):
            labels = list(wires)
            if labels != list(range(len(labels))):
                raise ValueError(f"wires must be an int n or the labels 0..n-1, got {labels}")
            n = len(labels)
        else:
            raise TypeError(f"wires must be an int or a sequence of labels, got {wires!r}")
        if n < 1:
            raise ValueError(f"a device needs at least one wire, got {wires!r}")
        if method in _TENSOR_METHODS and name in ("default.tensor", "pyqml.tensor"):
            method = _TENSOR_METHODS[method]
        chosen = DEVICE_METHODS[name] if method is None else method
        if chosen not in available_methods():
            raise ValueError(f"device {name!r}: method {chosen!r} is not available; available: "
                             f"{available_methods()}")
        check_options(chosen, "complex128", options)
        check_shots(shots)
        self.name = name
        self.n_wires = n
        self.wires = list(range(n))
        self.method = chosen
        self.shots = shots
        self.seed = seed
        self.rng = as_rng(seed)
        self.options = dict(options)

    def __repr__(self) -> str:
        return (f"<Device {self.name!r}: {self.n_wires} wires, method={self.method!r}, "
                f"shots={self.shots!r}>")


def device(name: str, wires, shots=None, seed=None, method: str | None = None, **options) -> Device:
    """A :class:`Device`: ``@pq.qnode(pq.device("default.qubit", wires=2))`` as in PennyLane."""
    return Device(name, wires, shots=shots, seed=seed, method=method, **options)
