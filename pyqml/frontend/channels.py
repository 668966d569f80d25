"""Noise channels, with PennyLane's names, parameters and Kraus conventions.

The channel table lives in the C++ engine next to the gate table (``pyqml._core.channel_table()``): Kraus
operators, their derivatives, parameter bounds. This module gives each channel a Python constructor that
records into a circuit like a gate does; parameters are numbers or traced weights and inputs (so noise
strengths can be trained or estimated)::

    with pq.Circuit(2) as c:
        w = c.new_weights(1)
        pq.RX(0.3, wires=0)
        pq.DepolarizingChannel(0.01, wires=0)
        pq.AmplitudeDamping(w[0], wires=1)       # a trainable damping rate
        pq.PauliError("XY", 0.1, wires=[0, 1])
        pq.QubitChannel([K0, K1], wires=0)       # any trace-preserving Kraus list on 1 or 2 wires

A circuit with channels runs on the methods that simulate noise; the others refuse it with a ValueError.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import _core
from .ops import Operation, _wires_tuple
from .params import Param

CHANNEL_TABLE = {c["name"]: c for c in _core.channel_table()}

_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


class Channel(Operation):
    """A noise channel: its name (as in the engine's channel table), wires and parameters."""

    is_channel = True

    def __init__(self, *params, wires=None, matrix=None):
        super().__init__(*params, wires=wires, matrix=matrix)
        if all(not isinstance(p, Param) for p in self.params):
            # Constant parameters are checked against the channel's bounds now (ValueError naming them).
            _core.channel_kraus(self.name, [float(p) for p in self.params], self.matrix, len(self.wires))

    def kraus_matrices(self) -> np.ndarray:
        """The Kraus operators (K, d, d) at this channel's (numeric) parameters."""
        if any(isinstance(p, Param) for p in self.params):
            raise ValueError(f"{self.name}: parameters are traced; bind them to get Kraus matrices")
        return _core.channel_kraus(self.name, [float(p) for p in self.params], self.matrix, len(self.wires))


def _make(name: str, doc: str) -> type:
    c = CHANNEL_TABLE[name]
    attrs = {
        "name": name,
        "num_params": c["n_params"],
        "num_wires": c["n_wires"] if c["n_wires"] > 0 else None,
        "param_names": tuple(c["param_names"]),
        "__doc__": doc + f"\n\nParameters: {', '.join(c['param_names'])} ({c['bounds']}).",
    }
    return type(name, (Channel,), attrs)


BitFlip = _make("BitFlip", "Bit flip: X with probability p. Kraus sqrt(1-p) I, sqrt(p) X.")
PhaseFlip = _make("PhaseFlip", "Phase flip: Z with probability p. Kraus sqrt(1-p) I, sqrt(p) Z.")
DepolarizingChannel = _make("DepolarizingChannel",
                            "Depolarizing: X, Y, Z each with probability p/3. Kraus sqrt(1-p) I, sqrt(p/3) X, Y, Z.")
AmplitudeDamping = _make("AmplitudeDamping",
                         "Amplitude damping |1> -> |0> with probability gamma. "
                         "Kraus [[1, 0], [0, sqrt(1-gamma)]], [[0, sqrt(gamma)], [0, 0]].")
GeneralizedAmplitudeDamping = _make("GeneralizedAmplitudeDamping",
                                    "Amplitude damping towards a thermal state with population p of |1> (PennyLane "
                                    "0.45's Kraus matrices: sqrt(1-p) times AmplitudeDamping's, sqrt(p) times the "
                                    "excitation [[sqrt(1-gamma), 0], [0, 1]], [[0, 0], [sqrt(gamma), 0]]), rate "
                                    "gamma.")
PhaseDamping = _make("PhaseDamping", "Phase damping: coherences scale by sqrt(1-gamma). "
                                     "Kraus [[1, 0], [0, sqrt(1-gamma)]], [[0, 0], [0, sqrt(gamma)]].")
ResetError = _make("ResetError", "Reset to |0> with probability p_0 and to |1> with probability p_1.")
ThermalRelaxationError = _make("ThermalRelaxationError",
                               "Thermal relaxation over gate time tq with relaxation times t1, t2 and excited "
                               "state population pe (PennyLane's Kraus operators, T2 <= T1 and T2 > T1).")


class PauliError(Channel):
    """The Pauli word ``operators`` (e.g. "XY", one letter per wire) with probability p.

    Kraus sqrt(1-p) I, sqrt(p) P; on 1 or 2 wires.
    """

    name = "PauliError"
    num_params = 1
    param_names = ("p",)

    def __init__(self, operators: str, p, wires=None):
        if wires is None:
            raise TypeError("PauliError needs wires=")
        ws = _wires_tuple(wires)
        if not isinstance(operators, str) or not operators or set(operators) - set("IXYZ"):
            raise ValueError(f"PauliError: operators must be a string of I, X, Y, Z, got {operators!r}")
        if len(operators) != len(ws):
            raise ValueError(f"PauliError: {len(operators)} operator(s) {operators!r} on {len(ws)} wire(s)")
        if not 1 <= len(ws) <= 2:
            raise ValueError(f"PauliError acts on 1 or 2 wires, got {len(ws)}")
        self.operators = operators
        word = np.ones((1, 1), dtype=complex)
        for letter in operators:
            word = np.kron(word, _PAULI[letter])
        super().__init__(p, wires=ws, matrix=np.ascontiguousarray(word))

    def __repr__(self) -> str:
        return f"PauliError({self.operators!r}, {self.params[0]!r}, wires={list(self.wires)})"


class QubitChannel(Channel):
    """Any channel given by its Kraus operators on 1 or 2 wires (trace preserving to 1e-10)."""

    name = "QubitChannel"
    num_params = 0
    param_names = ()

    def __init__(self, K_list: Sequence, wires=None):
        if wires is None:
            raise TypeError("QubitChannel needs wires=")
        ws = _wires_tuple(wires)
        if not 1 <= len(ws) <= 2:
            raise ValueError(f"QubitChannel acts on 1 or 2 wires, got {len(ws)}")
        dim = 2 ** len(ws)
        try:
            k = np.asarray(K_list, dtype=complex)
        except (TypeError, ValueError):
            raise TypeError("QubitChannel: K_list must be a list of complex matrices") from None
        if k.ndim == 2:
            k = k[None]
        if k.ndim != 3 or k.shape[1:] != (dim, dim) or k.shape[0] < 1:
            raise ValueError(f"QubitChannel on {len(ws)} wire(s) needs {dim}x{dim} Kraus matrices, got shape "
                             f"{np.shape(K_list)}")
        super().__init__(wires=ws, matrix=np.ascontiguousarray(k))


CHANNELS: dict[str, type] = {
    cls.name: cls
    for cls in [BitFlip, PhaseFlip, DepolarizingChannel, AmplitudeDamping, GeneralizedAmplitudeDamping,
                PhaseDamping, PauliError, ResetError, ThermalRelaxationError, QubitChannel]
}


def has_channels(circuit) -> bool:
    """True when a circuit (pyqml.Circuit) holds noise channels."""
    return any(getattr(op, "is_channel", False) for op in circuit.ops)


def channel_kraus(name: str, params: Sequence[float] = (), data=None, n_wires: int = 0) -> np.ndarray:
    """The engine's Kraus operators (K, d, d) of a channel, for inspection and tests."""
    return _core.channel_kraus(name, [float(p) for p in params], data, n_wires)
