"""The tensor-network executor: light cones per Pauli term, one plan per cone structure, C++ contraction
with reverse-mode gradients; variances, marginal probabilities, amplitudes and samples through the same
machinery."""
from __future__ import annotations

import itertools
import os
import time

import numpy as np

from .. import _core
from ..frontend.execution import Estimate, Executor, register_method
from ..frontend.noise import apply_noise
from ..statevector.executor import DeviceUnavailableError, parse_device, require_gpu
from .network import StructurePlan, check_optimize, plan_for, plans_for, slice_target
from .slicing import check_target_size

# probs() of at most this many wires (2^k Z words, each through its light cone).
PROBS_MAX_WIRES = 12


class TensorNetPlan:
    """What the tensor-network method will do for a circuit and observables, without contracting.

    Attributes
    ----------
    n_terms : int
        Distinct Pauli words over all observables.
    n_structures : int
        Distinct light-cone structures (one contraction plan each).
    flops : float
        Real floating-point operations of one forward evaluation of every term (8 per complex multiply-add).
    gradient_flops : float
        Forward plus backward sweep (values and all gradients).
    peak_memory : float
        Estimated peak bytes of a gradient call on one row (``jacobian``): the number the memory guard checks
        before that call (``TensorNet.estimated_bytes(1, True)``), with each thread's workspace laid out by
        liveness for the forward and backward sweeps.
    forward_memory : float
        The same for a forward-only call on one row (``expval``): no environments, a smaller workspace.
    width : int
        log2 of the largest tensor of any plan.
    structures : list of StructurePlan
        Each structure's network (``leaves``) and contraction tree (``tree``).
    counts : list of int
        Terms per structure.
    cones : list of (ops, wires, letters, structure)
        Per term, the circuit ops of its reverse light cone (time order) and its wires.
    slices : int
        The most slices of any structure's plan (1: nothing sliced); each structure's own are
        ``structures[s].n_slices`` and its sliced labels ``structures[s].sliced``. ``width``, ``peak_memory``
        and ``forward_memory`` are those of one slice (what a call holds at a time), ``flops`` counts every
        slice.
    flop_overhead : float
        ``flops`` over the flops of the same trees unsliced (1.0: nothing sliced).
    recompute : bool
        Whether a gradient call on one row at the current memory limit keeps checkpoints and recomputes the
        rest inside each slice (the stored values would not fit); ``peak_memory`` is then that call's
        workspace, ``stored_gradient_memory`` what storing every value would take, and ``gradient_flops``
        counts the recomputation (``recompute_flops``).
    """

    def __init__(self, executor: TensorNetExecutor):
        tn = executor._tn
        self.structures = executor.plans
        self.counts = list(tn.structure_counts())
        self.n_terms = tn.n_terms
        self.n_structures = tn.n_structures
        self.flops = 8.0 * sum(c * p.forward_macs for c, p in zip(self.counts, self.structures))
        self.gradient_flops = 8.0 * sum(c * (p.forward_macs + p.backward_macs)
                                        for c, p in zip(self.counts, self.structures))
        self.width = max((p.width for p in self.structures), default=0)
        self.peak_memory = float(tn.estimated_bytes(1, True))
        self.forward_memory = float(tn.estimated_bytes(1, False))
        self.cones = tn.cones()
        self.slices = max((p.n_slices for p in self.structures), default=1)
        unsliced = sum(c * (p.forward_macs if p.unsliced_macs is None else p.unsliced_macs)
                       for c, p in zip(self.counts, self.structures))
        self.flop_overhead = self.flops / (8.0 * unsliced) if unsliced > 0 else 1.0
        layouts = list(tn.gradient_layouts(1))
        self.recompute = any(lay >= 2 for lay in layouts)
        self.recompute_flops = 8.0 * float(tn.gradient_recompute_macs(1))
        self.gradient_flops += self.recompute_flops
        if self.recompute:
            mode, tn.recompute = tn.recompute, 1
            try:
                self.stored_gradient_memory = float(tn.estimated_bytes(1, True))
            finally:
                tn.recompute = mode
        else:
            self.stored_gradient_memory = self.peak_memory

    def __repr__(self) -> str:
        return (f"TensorNetPlan(terms={self.n_terms}, structures={self.n_structures}, flops={self.flops:.3g}, "
                f"gradient_flops={self.gradient_flops:.3g}, width={self.width}, "
                f"peak_memory={self.peak_memory:.3g} B, forward_memory={self.forward_memory:.3g} B, "
                f"slices={self.slices}, flop_overhead={self.flop_overhead:.3g}"
                + (f", recompute=True, stored_gradient_memory={self.stored_gradient_memory:.3g} B" if self.recompute
                   else "") + ")")


class TensorNetExecutor(Executor):
    """A circuit and observables compiled for the tensor-network method (``pyqml._core.TensorNet``).

    Parameters
    ----------
    circuit : pyqml.Circuit
    observables : list of Observable
    precision : {"complex128", "complex64"}
    optimize : str
        Path search: "auto" (exhaustive, dynamic programming or greedy by network size), "greedy", "dp",
        "optimal", "random-greedy" (opt_einsum) or "cotengra" (its hyper-optimizer, when installed).
    refuse_oversized : bool
        Raise ``pyqml.MemoryLimitError`` as soon as one structure's plan exceeds the memory limit (the
        default); ``pq.plan`` turns this off to report the costs of any network.
    fuse : bool
        Build light cones over blocks of gates fused on one or two wires where the block is structurally
        diagonal (``cx a,b; rz b; cx a,b`` is ``IsingZZ``), the default; False treats every op on its own.
    target_size : int or None
        Slice every plan so that no tensor of a slice has more than this many complex elements
        (``pyqml/tensornet/slicing.py``). None (the default): slice only the plans whose gradient call would
        not fit in the memory limit, until it takes at most half of it.
    noise : pyqml.NoiseModel or None
        Channels added after the circuit's gates and the readout error (``NoiseModel.apply``); the executor
        then works on that noisy circuit (``self.circuit``). Expectation values, variances, probabilities
        and gradients include the readout error (a bit flip on every wire before measuring); amplitudes and
        samples of a noisy circuit are refused.

    device : {"cpu", "gpu", "cuda", "cuda:N"}
        Where the contractions run. On a GPU (builds with ``PYQML_CUDA=ON``, cuBLAS at run time) the same plans
        run with every pairwise step a cuBLAS batched GEMM over many contractions at once (rows, terms and
        slices of one structure), gradients by the same reverse mode on the device
        (``cpp/include/pyqml/cuda/tensornet_gpu.hpp``); expectation values, variances, probabilities and
        gradients run there, amplitudes and samples only on the CPU.
    recompute : {"auto", "never", "always"}
        Gradients inside a slice: "auto" (the default) stores every value the backward sweep needs when that
        fits the memory limit, else keeps checkpoints (the intermediates up to a size) and recomputes the
        larger values where the backward sweep needs them, with the largest checkpoints that fit (the memory
        guard checks that workspace); "never" always stores them (refused where they do not fit); "always"
        takes the smallest gradient workspace (``cpp/include/pyqml/tensornet/contraction.hpp``).
    """

    method = "tensornet"
    supports = frozenset({"expval", "var", "probs", "sample", "amplitude", "jacobian", "vjp"})
    options = {"optimize": "auto", "fuse": True, "target_size": None, "noise": None, "recompute": "auto",
               "device": "cpu"}
    # Noise channels: expectation values (and var, probs, gradients) through the doubled network of each cone,
    # a channel being one superoperator tensor on its wires' ket and bra lines (cpp/include/pyqml/tensornet/
    # network.hpp). Amplitudes and samples of a noisy circuit are refused.
    simulates_noise = True

    def __init__(self, circuit, observables, precision: str = "complex128", optimize: str = "auto",
                 refuse_oversized: bool = True, progress=None, max_time: float | None = None, fuse: bool = True,
                 target_size=None, noise=None, recompute: str = "auto", device="cpu"):
        check_optimize(optimize)
        gpu = parse_device(device)
        if gpu is not None:
            require_gpu(device)
            require_cublas(device)
        check_target_size(target_size)
        mode = check_recompute(recompute)
        from ..frontend.observables import as_observable

        circuit = apply_noise(circuit, noise)
        super().__init__(circuit, [as_observable(o) for o in observables], precision, optimize=optimize,
                         fuse=bool(fuse), target_size=target_size, noise=noise, recompute=recompute,
                         device=device)
        self.device = device
        self.optimize = optimize
        self.recompute = recompute
        self.fuse = bool(fuse)
        self.target_size = target_size
        self._aux: dict = {}
        self._tn = _core.TensorNet(circuit.core, [o.core_terms() for o in self.observables], precision, self.fuse)
        self._tn.recompute = mode
        self.plans: list[StructurePlan] = []
        elem = 16 if precision == "complex128" else 8
        start = time.perf_counter()
        structures = range(self._tn.n_structures)
        if progress:
            try:
                from tqdm.auto import tqdm

                structures = tqdm(structures, desc="planning", unit="structure")
            except ImportError:
                pass
        limit = _core.memory_limit()
        target = slice_target(target_size, elem)
        if not progress and max_time is None:
            # Every structure at once (the engine plans the greedy ones in parallel), then the same checks.
            refuse = limit if refuse_oversized else float("inf")
            for s, p in enumerate(plans_for(self._tn, optimize, refuse, elem, target)):
                if refuse_oversized:
                    self._refuse_oversized(p, elem, limit)
                self.plans.append(p)
                self._tn.set_plan(s, p.core)
            structures = range(0)
        for s in structures:
            if max_time is not None and time.perf_counter() - start > max_time:
                widest = max((p.width for p in self.plans), default=0)
                raise TimeoutError(f"planning stopped after {time.perf_counter() - start:.3g} s (max_time={max_time}): "
                                   f"{s} of {self._tn.n_structures} structures planned, the widest so far 2^{widest}")
            p = plan_for(self._tn.structure(s), optimize, target)
            if refuse_oversized:
                self._refuse_oversized(p, elem, limit)
            self.plans.append(p)
            self._tn.set_plan(s, p.core)
        # The engine the calls go to: the CPU executor, or its plans on a GPU.
        self._gpu = None if gpu is None else _core.GpuTensorNet(self._tn, gpu)
        self._engine = self._tn if self._gpu is None else self._gpu

    @staticmethod
    def _refuse_oversized(p: StructurePlan, elem: int, limit: float) -> None:
        """Refuse up front, before the other structures are used, when one plan alone cannot fit: one thread's
        forward workspace and the permutation tables, what every call needs at least (a gradient call's
        larger workspace is checked when it is made)."""
        need = p.core.bytes_per_thread(elem, False) + p.core.table_bytes
        if need > limit:
            sliced = f", even sliced into {p.n_slices} slices" if p.n_slices > 1 else ""
            raise _core.MemoryLimitError(
                f"tensor-network contraction (largest tensor 2^{p.width} amplitudes{sliced}) needs an estimated "
                f"{need:.4g} bytes, over the memory limit of {limit:.4g} bytes")

    @classmethod
    def considered(cls, circuit, observables, measurement: str, options: dict) -> bool:
        """Under "auto", a noisy register of at most ``NOISY_DENSE_REGISTER`` wires is planned only when every
        light cone of the observables' Pauli words leaves wires out: a cone over the whole register gains
        nothing over the density matrix and trajectories, and its doubled network is slow to plan (seconds to
        a minute at 10-16 wires). The cones come from the engine's cone walk, without planning."""
        from ..frontend.execution import NOISY_DENSE_REGISTER, is_noisy
        from ..frontend.observables import as_observable

        if measurement not in ("expval", "jacobian", "vjp", "var") or not is_noisy(circuit, options):
            return True
        if circuit.n_wires > NOISY_DENSE_REGISTER:
            return True
        noisy = apply_noise(circuit, options.get("noise"))
        terms = [as_observable(o).core_terms() for o in observables]
        cones = _core.TensorNet(noisy.core, terms, "complex128", bool(options.get("fuse", True))).cones()
        return all(len(cone[1]) < circuit.n_wires for cone in cones)

    @classmethod
    def estimate(cls, circuit, observables, measurement: str, precision: str, optimize: str = "auto",
                 fuse: bool = True, wires=None, shots=None, target_size=None, noise=None,
                 recompute: str = "auto", device="cpu", **_) -> Estimate:
        """Flops and peak bytes from the plans themselves (planning them, cached, on the way); on a GPU the
        bytes are the device's, checked against its free memory."""
        from ..frontend.execution import is_noisy
        from ..frontend.observables import Observable

        gpu = parse_device(device)
        if gpu is not None:
            if measurement in ("sample", "amplitude"):
                return Estimate.refused(f"the tensor-network method computes {measurement} on the CPU only")
            try:
                require_gpu(device)
                require_cublas(device)
            except DeviceUnavailableError as e:
                return Estimate.refused(str(e))
        circuit = apply_noise(circuit, noise)

        grad = measurement in ("jacobian", "vjp")
        factor = 1.0
        if measurement in ("sample", "amplitude") and is_noisy(circuit):
            return Estimate.refused(f"the tensor-network method does not compute {measurement} of a noisy circuit")
        if measurement in ("expval", "jacobian", "vjp"):
            obs = observables
        elif measurement == "var":
            obs = list(observables) + [o @ o for o in observables]
        elif measurement in ("probs", "sample"):
            ws = list(range(circuit.n_wires)) if wires is None else list(wires)
            if measurement == "probs" and len(ws) > PROBS_MAX_WIRES:
                return Estimate.refused(f"probs of at most {PROBS_MAX_WIRES} wires, got {len(ws)}")
            obs = [Observable({tuple((w, "Z") for w in sorted(ws)): 1.0})]
            factor = 2.0 ** len(ws) if measurement == "probs" else 2.0 * len(ws) * float(shots or 1000)
        elif measurement == "amplitude":
            from .amplitudes import amplitude_plan

            ap = amplitude_plan(circuit, [0] * circuit.n_wires, optimize)
            return Estimate(8.0 * ap.forward_macs, float(ap.bytes_per_thread(16, False) + ap.table_bytes))
        else:
            return Estimate.refused(f"the tensor-network method does not compute {measurement}")
        ex = circuit.executor(obs, "tensornet", precision, optimize=optimize, fuse=fuse, target_size=target_size,
                              recompute=recompute, **({} if gpu is None else {"device": device}))
        macs = ex.cost() * factor * (3.0 if grad else 1.0)
        if gpu is not None:
            need = float(ex._gpu.estimated_bytes(1, grad))
            free = _core.cuda_memory_info(gpu)[0]
            if need > free:
                return Estimate.refused(f"the tensor-network contraction needs an estimated {need:.4g} bytes, over "
                                        f"the free memory of CUDA device {gpu} ({free:.4g} bytes)")
            return Estimate(8.0 * macs, need)
        if grad:
            macs += ex._tn.gradient_recompute_macs(1)
        return Estimate(8.0 * macs, float(ex._tn.estimated_bytes(1, grad)))

    def plan(self) -> TensorNetPlan:
        return TensorNetPlan(self)

    def expval(self, weights, inputs=None) -> np.ndarray:
        return self._engine.expval(weights, inputs)

    def jacobian(self, weights, inputs=None):
        return self._engine.jacobian(weights, inputs)

    def vjp(self, weights, inputs, cotangent):
        return self._engine.vjp(weights, inputs, cotangent)

    def expval_angles(self, angles) -> np.ndarray:
        return self._engine.expval_angles(np.atleast_2d(np.asarray(angles, dtype=float)))

    def _cpu_only(self, what: str) -> None:
        if self._gpu is not None:
            raise ValueError(f"the tensor-network method computes {what} on the CPU only; this executor runs on "
                             f"device={self.device!r} (use device='cpu')")

    def _words(self, key, build):
        """An executor of auxiliary Pauli words on the same circuit (cached), on the same device."""
        ex = self._aux.get(key)
        if ex is None:
            extra = {} if self._gpu is None else {"device": self.device}
            ex = self.circuit.executor(build(), "tensornet", self.precision, optimize=self.optimize, fuse=self.fuse,
                                       target_size=self.target_size, recompute=self.recompute, **extra)
            self._aux[key] = ex
        return ex

    def var(self, weights, inputs=None) -> np.ndarray:
        """``<O^2> - <O>^2`` per observable, with ``O^2`` expanded into Pauli words (each through its cone)."""
        m = len(self.observables)
        ex = self._words("var", lambda: list(self.observables) + [o @ o for o in self.observables])
        vals = ex.expval(weights, inputs)
        return np.maximum(vals[:, m:] - vals[:, :m] ** 2, 0.0)

    def probs(self, weights, inputs, wires) -> np.ndarray:
        """Marginal probabilities of a few wires (first most significant) from their Z words:
        ``p(b) = 2^-k sum_T <Z_T> (-1)^(parity of b on T)``."""
        from ..frontend.observables import Observable

        ws = [int(w) for w in wires]
        k = len(ws)
        if k > PROBS_MAX_WIRES:
            raise ValueError(f"the tensor-network method computes probs of at most {PROBS_MAX_WIRES} wires, got "
                             f"{k}; use method='statevector' for the full distribution or sample()")
        if any(not 0 <= w < self.circuit.n_wires for w in ws):
            raise ValueError(f"probs: wires {ws} out of range for {self.circuit.n_wires} wires")
        subsets = list(itertools.product((0, 1), repeat=k))
        ex = self._words(("probs", tuple(ws)), lambda: [
            Observable({tuple(sorted((w, "Z") for w, s in zip(ws, sub) if s)): 1.0}) for sub in subsets])
        vals = ex.expval(weights, inputs)
        sign = np.array([[(-1) ** sum(((b >> (k - 1 - i)) & 1) * s for i, s in enumerate(sub)) for sub in subsets]
                         for b in range(2**k)], dtype=float)
        return np.maximum(vals @ sign.T / 2**k, 0.0)

    def amplitude(self, weights, inputs, bits) -> np.ndarray:
        from ..frontend.execution import is_noisy
        from .amplitudes import amplitude_rows

        self._cpu_only("amplitudes")
        if is_noisy(self.circuit):
            raise ValueError("a circuit with noise channels has no amplitudes (a mixed state); use expectation "
                             "values or probs")

        return amplitude_rows(self.circuit, bits, weights, inputs, self.precision, self.optimize)

    def sample(self, weights, inputs, wires, shots: int, seed: int) -> np.ndarray:
        from ..frontend.execution import is_noisy
        from .sampling import sample

        self._cpu_only("samples")
        if is_noisy(self.circuit):
            raise ValueError("the tensor-network method samples pure states only; the circuit has noise channels "
                             "(use expectation values or probs, or method='densitymatrix')")

        return sample(self.circuit, weights, inputs, list(wires), int(shots), int(seed), self.precision)

    def cost(self) -> float:
        """Complex multiply-adds of one forward evaluation of every term."""
        return sum(c * p.forward_macs for c, p in zip(self._tn.structure_counts(), self.plans))

    @staticmethod
    def choose(circuit, observables, precision: str = "complex128") -> str:
        """"statevector" or "tensornet" for expectation values, by the methods' own estimates (see
        :func:`pyqml.frontend.execution.choose_method`)."""
        from ..frontend.execution import choose_method

        return choose_method(circuit, observables, precision, "expval")


RECOMPUTE = {"auto": 0, "never": 1, "always": 2}


def cublas_dirs() -> list[str]:
    """Library folders of an installed nvidia-cublas wheel (``nvidia/cu13/lib``, ``nvidia/cublas/lib``, ...)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        spec = None
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return [d for root in roots for sub in ("cu13", "cublas", "cu12")
            if os.path.isdir(d := os.path.join(root, sub, "lib"))]


def require_cublas(device) -> None:
    """DeviceUnavailableError unless cuBLAS can be loaded (the GPU tensor network's GEMMs), naming where it
    was looked for."""
    why = _core.cuda_cublas_load(cublas_dirs())
    if why:
        raise DeviceUnavailableError(f"device={device!r} on the tensor network: {why}")


def check_recompute(recompute) -> int:
    """The engine's mode of a ``recompute=`` option (ValueError naming the choices otherwise)."""
    if not isinstance(recompute, str) or recompute not in RECOMPUTE:
        raise ValueError(f"recompute must be one of {tuple(RECOMPUTE)}, got {recompute!r}")
    return RECOMPUTE[recompute]


register_method(TensorNetExecutor)


def plan(circuit, observables=None, *args, precision: str = "complex128", optimize: str = "auto",
         progress=None, max_time: float | None = None, fuse: bool = True, target_size=None, noise=None,
         recompute: str = "auto", **kwargs) -> TensorNetPlan:
    """The tensor-network plan for ``observables`` on ``circuit``: light cones, contraction trees, flops,
    width and estimated peak memory, computed without contracting anything. ``fuse=False`` plans every op on
    its own and ``target_size=`` slices the plans to that many complex elements per tensor and ``noise=``
    plans the circuit with a noise model's channels (see :class:`TensorNetExecutor`); without
    ``target_size``, plans over the memory limit are sliced to fit (the plan's
    ``slices`` and ``flop_overhead`` say how much).

    ``circuit`` may be a :class:`pyqml.QNode` followed by its arguments (as for calling it); the observables
    are then those of its expectation values. ``progress=True`` shows a progress bar over the structures
    (tqdm); ``max_time`` (seconds) stops planning with a TimeoutError saying how far it got.

    Examples
    --------
    >>> p = pq.plan(c, [pq.Z(0) @ pq.Z(1)])
    >>> p = pq.plan(qnode, X, W)
    >>> p.flops, p.width, p.peak_memory
    """
    from ..frontend.observables import as_observable
    from ..frontend.qnode import QNode

    if isinstance(circuit, QNode):
        qargs = ((observables,) if observables is not None else ()) + args
        cq = circuit.compiled_for(*qargs, **kwargs)
        if not cq.expval_only:
            raise ValueError("pq.plan plans expectation values; the qnode returns "
                             + ", ".join(m.kind for m in cq.measurements))
        circuit, obs = cq.circuit, [m.obs for m in cq.measurements]
        optimize = cq.qnode.options.get("optimize", optimize)
        fuse = cq.qnode.options.get("fuse", fuse)
        target_size = cq.qnode.options.get("target_size", target_size)
        noise = cq.qnode.options.get("noise", noise)
        recompute = cq.qnode.options.get("recompute", recompute)
    else:
        if observables is None:
            raise TypeError("pq.plan(circuit, observables) or pq.plan(qnode, *args)")
        if args or kwargs:
            raise TypeError(f"pq.plan(circuit, observables, ...) got unexpected arguments {args or kwargs}")
        obs = observables if isinstance(observables, (list, tuple)) else [observables]
        obs = [as_observable(o) for o in obs]
    return TensorNetExecutor(circuit, obs, precision, optimize, refuse_oversized=False, progress=progress,
                             max_time=max_time, fuse=fuse, target_size=target_size, noise=noise,
                             recompute=recompute).plan()
