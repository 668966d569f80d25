"""The state-vector executor (``pyqml._core.StateVector``): every measurement, adjoint gradients.

``device="gpu"`` (or ``"cuda"``, ``"cuda:N"``) runs the same compiled circuit on a GPU
(``pyqml._core.GpuStateVector``, in builds with ``PYQML_CUDA=ON``); the default ``device="cpu"`` is the CPU engine.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ..frontend.execution import MEASUREMENTS, Estimate, Executor, register_method

# The widest register the engine addresses (one number, from the engine); the memory guard decides below it.
MAX_WIRES = int(_core.SV_MAX_WIRES)


class DeviceUnavailableError(RuntimeError):
    """``device="gpu"`` asked of a build without CUDA, or of a machine without a usable GPU."""


def parse_device(device) -> int | None:
    """The CUDA device index of a ``device=`` option, or None for the CPU."""
    if device is None:
        return None
    if isinstance(device, str):
        d = device.strip().lower()
        if d == "cpu":
            return None
        if d in ("gpu", "cuda"):
            return 0
        if d.startswith("cuda:") and d[5:].isdigit():
            return int(d[5:])
    raise ValueError(f"device must be 'cpu', 'gpu', 'cuda' or 'cuda:N', got {device!r}")


def require_gpu(device) -> int:
    """The device index of ``device``; DeviceUnavailableError naming what is missing (the CUDA build, a GPU)."""
    index = parse_device(device)
    if index is None:
        raise ValueError(f"device {device!r} is not a GPU")
    if not getattr(_core, "CUDA_BUILT", False):
        raise DeviceUnavailableError(
            f"device={device!r} needs a CUDA build of pyqml, and this one was built without CUDA (PYQML_CUDA=OFF); "
            "rebuild with: pip install . -C cmake.define.PYQML_CUDA=ON")
    if not _core.cuda_available():
        raise DeviceUnavailableError(f"device={device!r}: this CUDA build of pyqml finds no usable GPU "
                                     f"({_core.cuda_unavailable_reason()})")
    count = _core.cuda_device_count()
    if index >= count:
        raise DeviceUnavailableError(f"device={device!r}: CUDA device {index} does not exist ({count} present)")
    return index


def _rows(weights, inputs) -> int:
    w = np.asarray(weights)
    return np.shape(inputs)[0] if inputs is not None else (w.shape[0] if w.ndim == 2 else 1)


class StateVectorExecutor(Executor):
    """A circuit and observables compiled for the state-vector engine.

    Exact; memory 16 * 2^n bytes per state (8 in complex64), two or three states per thread for gradients.
    ``device="gpu"`` / ``"cuda:N"``: the states live on that GPU (its free memory is the limit).
    """

    method = "statevector"
    vjp_skips_dx = True  # vjp(..., need_dx=False) skips the input gradients
    supports = frozenset(MEASUREMENTS)
    options: dict = {"device": "cpu"}

    def __init__(self, circuit, observables, precision: str = "complex128", **options):
        super().__init__(circuit, observables, precision, **options)
        self.device = options.get("device", "cpu")
        terms = [o.core_terms() for o in self.observables]
        self._cpu = parse_device(self.device) is None
        if self._cpu:
            self._sim = _core.StateVector(circuit.core, terms, precision)
        else:
            index = require_gpu(self.device)
            self._sim = _core.GpuStateVector(circuit.core, terms, precision, index)

    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, device="cpu",
                 **details) -> Estimate:
        n = circuit.n_wires
        if n > MAX_WIRES:
            return Estimate.refused(f"the state-vector method handles at most {MAX_WIRES} wires, the circuit has {n}")
        elem = 16 if precision == "complex128" else 8
        states = 1.0
        if measurement in ("jacobian", "vjp"):
            states = 2.0 + max(1, len(observables))
        elif measurement == "state":
            states = 2.0
        need = states * elem * 2.0**n
        index = parse_device(device)
        if index is not None:
            try:
                require_gpu(device)
            except DeviceUnavailableError as e:
                return Estimate.refused(str(e))
            free = _core.cuda_memory_info(index)[0]
            if need > free:
                return Estimate.refused(f"{states:g} state(s) of 2^{n} amplitudes need {need:.4g} bytes, over the "
                                        f"free memory of CUDA device {index} ({free:.4g} bytes)")
            return Estimate(32.0 * max(1, len(circuit.ops)) * 2.0**n * max(states, 1.0), need)
        limit = _core.memory_limit()
        if need > limit:
            return Estimate.refused(f"{states:g} state(s) of 2^{n} amplitudes need {need:.4g} bytes, over the "
                                    f"memory limit of {limit:.4g} bytes")
        # 4 complex multiply-adds per amplitude and gate, 8 real flops each.
        flops = 32.0 * max(1, len(circuit.ops)) * 2.0**n * (states if states > 1 else 1.0)
        return Estimate(flops, need)

    @property
    def cpu_engine(self):
        """The ``pyqml._core.StateVector`` this executor's calls run on (None on a GPU): for callers that run
        several engine steps in one call on it (the hybrid models' fused training step)."""
        return self._sim if self._cpu else None

    def expval(self, weights, inputs=None) -> np.ndarray:
        return self._sim.expval(weights, inputs)

    def var(self, weights, inputs=None) -> np.ndarray:
        return self._sim.var(weights, inputs)

    def jacobian(self, weights, inputs=None):
        return self._sim.jacobian(weights, inputs)

    def vjp(self, weights, inputs, cotangent, need_dx: bool = True, saved=None):
        """values, cot . d/dweights, cot . d/dinputs; ``need_dx=False``: the input gradients are skipped
        (dx is None). ``saved``: the handle of :meth:`forward` on the same weights and inputs; the engine then
        runs only the backward part where the forward kept its states (a handle whose weights or inputs
        differ by content from these is not used: the whole VJP runs)."""
        if saved is not None and self._cpu:
            return self._sim.vjp_saved(saved, weights, inputs, cotangent, need_dx=need_dx)
        return self._sim.vjp(weights, inputs, cotangent, need_dx=need_dx)

    def forward(self, weights, inputs=None, need_dx: bool = False):
        """(values, saved): :meth:`expval` and a handle (``_core.SavedForward``, it owns copies of the weights and
        inputs and, on the shared-suffix path, the final states) for :meth:`vjp` on the same batch; None on a
        GPU. ``need_dx``: the VJP will ask for the input gradients (the engine then keeps only what serves it)."""
        if not self._cpu:
            return self._sim.expval(weights, inputs), None
        return self._sim.forward(weights, inputs, need_dx=need_dx)

    def expval_angles(self, angles) -> np.ndarray:
        return self._sim.expval_angles(angles)

    def flops(self, rows: int | None = None, need_dx: bool = True, saved: bool = False) -> dict:
        """Real flops of one row on the CPU engine, counted from the compiled program
        (``cpp/src/statevector/flops.cpp``): ``forward``, ``values``, ``jacobian``, ``vjp``. With ``rows``:
        the flops of a whole call of that many rows (shared weights) along the path the engine takes for it
        (the shared-suffix path's per-call and per-row parts); ``need_dx``: a vjp with input gradients;
        ``saved``: a vjp after :meth:`forward` on the same batch (its backward part alone where forward kept the
        states)."""
        if parse_device(self.device) is not None:
            raise ValueError("flops() counts the CPU engine's arithmetic; this executor runs on a GPU")
        return dict(self._sim.flops(rows, need_dx, saved))

    def _check_output(self, rows: int, what: str) -> None:
        # The (rows, 2^n) result is allocated before the engine runs: check it against the limit first.
        need = rows * 16 * 2**self.circuit.n_wires
        limit = _core.memory_limit()
        if need > limit:
            raise _core.MemoryLimitError(
                f"{what} of {rows} row(s) on {self.circuit.n_wires} wires needs {need} bytes for its complex128 "
                f"result, over the memory limit of {int(limit)} bytes (pyqml.set_memory_limit)")

    def state(self, weights, inputs=None) -> np.ndarray:
        self._check_output(_rows(weights, inputs), "state()")
        return self._sim.state(weights, inputs)

    def amplitude(self, weights, inputs, bits) -> np.ndarray:
        index = int("".join(str(int(b)) for b in bits), 2)
        self._check_output(_rows(weights, inputs), "amplitude()")
        return self._sim.state(weights, inputs)[:, index]

    def probs(self, weights, inputs, wires) -> np.ndarray:
        return self._sim.probs(weights, inputs, list(wires))

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        return self._sim.sample(weights, inputs, list(wires), int(shots), int(seed))

    def cost(self) -> float:
        """Estimated amplitude updates of one forward pass."""
        return float(len(self.circuit.ops)) * 2.0 ** self.circuit.n_wires


register_method(StateVectorExecutor)
