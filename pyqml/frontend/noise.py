"""Noise models: channels attached to a clean circuit without editing it.

In the spirit of Qiskit Aer's ``NoiseModel`` and PennyLane's noise models, a :class:`NoiseModel` lists rules
"after every gate named G (and/or touching wires W), apply channel C", plus a readout error. It is given
to any measurement through the executor option ``noise=``, from qnodes, ``pq.expval`` / ``pq.jacobian`` and
the scikit-learn estimators::

    nm = pq.NoiseModel()
    nm.add(pq.DepolarizingChannel, 0.01, gates="CNOT")          # on each wire of every CNOT
    nm.add(pq.PauliError, "ZZ", 0.02, gates="CNOT")             # a 2-wire channel on the CNOT's wires
    nm.add(pq.AmplitudeDamping, 0.05, wires=3)                  # after every gate on wire 3, on wire 3
    nm.readout_error(0.02)                                      # a bit flip on every wire before measuring

    pq.expval(circuit, obs, weights=w, noise=nm)                # runs on a method that simulates noise

The noisy circuit is built once per (circuit, noise model) by :func:`apply_noise`, which every method that
takes ``noise=`` calls (the density matrix, the noisy light-cone tensor network, trajectories); the circuit
itself is left as it was. A readout error is a ``BitFlip(p)`` on every wire at the end of the circuit, so it
acts on every measurement (probabilities, samples and expectation values alike), as PennyLane's ``readout_prob`` does.
"""
from __future__ import annotations

import numpy as np

from . import recording
from .channels import CHANNELS, BitFlip, Channel
from .circuit import Circuit


class _Sink:
    """A recorder that keeps nothing: channels built here must not land in a circuit being recorded."""

    def record(self, op) -> None:
        pass


def _names(gates) -> frozenset | None:
    if gates is None:
        return None
    if isinstance(gates, (str, type)):
        gates = [gates]
    out = []
    for g in gates:
        if isinstance(g, type):
            g = g.name
        if not isinstance(g, str):
            raise TypeError(f"gates= takes gate names or classes, got {g!r}")
        out.append(g)
    return frozenset(out)


def _wire_set(wires) -> frozenset | None:
    if wires is None:
        return None
    ws = [wires] if isinstance(wires, (int, np.integer)) else list(wires)
    for w in ws:
        if not isinstance(w, (int, np.integer)) or isinstance(w, bool) or w < 0:
            raise ValueError(f"wires= takes non-negative integers, got {w!r}")
    return frozenset(int(w) for w in ws)


def _channel_class(channel) -> type:
    if isinstance(channel, str):
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; channels: {sorted(CHANNELS)}")
        return CHANNELS[channel]
    if isinstance(channel, type) and issubclass(channel, Channel):
        return channel
    raise TypeError(f"a noise rule takes a channel class or name (pq.DepolarizingChannel, 'BitFlip'), got {channel!r}")


def _key(value):
    if isinstance(value, np.ndarray):
        return ("array", value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    return value


class NoiseModel:
    """Rules that add channels after gates, and a readout error; see the module docstring."""

    def __init__(self):
        self._rules: list[tuple] = []
        self._readout: float | None = None

    def add(self, channel, *params, gates=None, wires=None) -> NoiseModel:
        """After every gate named in ``gates`` (a name, class or list; None: every gate) that touches one of
        ``wires`` (None: any), apply ``channel(*params)``.

        A 1-wire channel goes on each of the gate's wires (those in ``wires`` when given); a 2-wire channel
        (``PauliError`` with two letters, a 4x4 ``QubitChannel``) on the gate's wires, for 2-wire gates.
        Returns the model, so rules chain.
        """
        cls = _channel_class(channel)
        names, ws = _names(gates), _wire_set(wires)
        # Build the channel once now: bad parameters are refused when the rule is added.
        probe_wires = list(range(self._width(cls, params)))
        self._make(cls, params, probe_wires)
        self._rules.append((cls, tuple(params), names, ws))
        return self

    def readout_error(self, p: float) -> NoiseModel:
        """A bit flip with probability ``p`` on every wire before the measurement."""
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"readout error: p = {p} is outside [0, 1]")
        self._readout = p
        return self

    @property
    def rules(self) -> list[tuple]:
        """(channel class, parameters, gate names or None, wires or None) per rule, in order."""
        return list(self._rules)

    @property
    def readout(self) -> float | None:
        return self._readout

    @staticmethod
    def _width(cls, params) -> int:
        if cls.name == "PauliError":
            return len(params[0]) if params and isinstance(params[0], str) else 1
        if cls.name == "QubitChannel":
            k = np.asarray(params[0]) if params else np.zeros((1, 2, 2))
            return 2 if k.shape[-1] == 4 else 1
        return 1

    @staticmethod
    def _make(cls, params, wires) -> Channel:
        recording.push(_Sink())
        try:
            return cls(*params, wires=wires)
        finally:
            recording.pop(recording.active_recorder())

    def channels_after(self, op) -> list[Channel]:
        """The channels the model adds after ``op`` (a gate), in rule order."""
        if getattr(op, "is_channel", False):
            return []
        out = []
        for cls, params, names, ws in self._rules:
            if names is not None and op.name not in names:
                continue
            touched = [w for w in op.wires if ws is None or w in ws]
            if not touched:
                continue
            width = self._width(cls, params)
            if width == 1:
                out.extend(self._make(cls, params, [w]) for w in touched)
            elif len(op.wires) == width:
                out.append(self._make(cls, params, list(op.wires)))
        return out

    def apply(self, circuit: Circuit) -> Circuit:
        """A new circuit: ``circuit``'s ops with the model's channels after each gate and the readout error
        at the end. Weights, inputs and derived inputs are the circuit's. A rule on wires the circuit does
        not have is refused (ValueError), as a channel on such a wire would be."""
        for cls, _, _, ws in self._rules:
            if ws is not None and max(ws) >= circuit.n_wires:
                raise ValueError(f"noise model: the {cls.name} rule names wire {max(ws)}, out of range for "
                                 f"{circuit.n_wires} wires")
        ops = []
        for op in circuit.ops:
            ops.append(op)
            ops.extend(self.channels_after(op))
        if self._readout is not None:
            ops.extend(self._make(BitFlip, (self._readout,), [w]) for w in range(circuit.n_wires))
        out = Circuit(circuit.n_wires, ops, circuit.n_weights, circuit.n_inputs, weights=circuit.default_weights)
        out.derived_inputs = circuit.derived_inputs
        return out

    def _key(self):
        return (tuple((cls.name, _key(params), names, ws) for cls, params, names, ws in self._rules), self._readout)

    def __eq__(self, other) -> bool:
        return isinstance(other, NoiseModel) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = []
        for cls, params, names, ws in self._rules:
            where = []
            if names is not None:
                where.append(f"gates={sorted(names)}")
            if ws is not None:
                where.append(f"wires={sorted(ws)}")
            parts.append(f"{cls.name}{tuple(params)!r} after {' '.join(where) or 'every gate'}")
        if self._readout is not None:
            parts.append(f"readout error {self._readout}")
        return f"NoiseModel({'; '.join(parts) or 'no noise'})"



def as_noise_model(noise) -> NoiseModel:
    """``noise`` itself when it is a :class:`NoiseModel`; a TypeError naming what was given otherwise."""
    if not isinstance(noise, NoiseModel):
        raise TypeError(f"noise= takes a pyqml.NoiseModel, got {type(noise).__name__}")
    return noise


def apply_noise(circuit: Circuit, noise) -> Circuit:
    """The circuit a method simulates for ``noise=``: ``circuit`` itself when ``noise`` is None, else
    ``noise.apply(circuit)``, built once per (circuit, model) and kept with the circuit's executors (so it is
    rebuilt when the circuit changes)."""
    if noise is None:
        return circuit
    model = as_noise_model(noise)
    key = ("noisy circuit", model)
    noisy = circuit._executors.get(key)
    if noisy is None:
        noisy = model.apply(circuit)
        circuit._executors[key] = noisy
    return noisy
