"""pyqml: quantum circuits for machine learning, simulated by a C++ engine (state vector and tensor
network) with exact batched gradients."""
from __future__ import annotations

import os as _os

# Idle OpenMP workers sleep instead of spinning: batches are one parallel region per call, and spinning
# workers stall everything when the machine's cores are shared with other processes. Read once, when the
# OpenMP runtime loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from ._engine import load_engine as _load_engine

_core = _load_engine()
from ._core import MemoryLimitError, get_num_threads, memory_limit, set_num_threads  # noqa: E402
from .frontend.autodiff import grad, jacobian
from .frontend.cache import cache_stats, clear_caches
from .frontend.channels import (
                       CHANNELS,
                       AmplitudeDamping,
                       BitFlip,
                       Channel,
                       DepolarizingChannel,
                       GeneralizedAmplitudeDamping,
                       PauliError,
                       PhaseDamping,
                       PhaseFlip,
                       QubitChannel,
                       ResetError,
                       ThermalRelaxationError,
                       channel_kraus,
)
from .frontend.circuit import Circuit
from .frontend.device import Device, device
from .frontend.measurements import Measurement, amplitude, expval, probs, sample, shot_estimate, state, var
from .frontend.noise import NoiseModel
from .frontend.observables import Hamiltonian, Observable
from .frontend.ops import (
                  CH,
                  CNOT,
                  CRX,
                  CRY,
                  CRZ,
                  CSWAP,
                  CY,
                  CZ,
                  GATES,
                  ISWAP,
                  RX,
                  RY,
                  RZ,
                  SWAP,
                  SX,
                  U3,
                  ControlledPhaseShift,
                  CPhase,
                  CRot,
                  H,
                  Hadamard,
                  I,
                  Identity,
                  IsingXX,
                  IsingYY,
                  IsingZZ,
                  MultiRZ,
                  Operation,
                  PauliX,
                  PauliY,
                  PauliZ,
                  PhaseShift,
                  QubitUnitary,
                  Rot,
                  S,
                  Sdg,
                  SXdg,
                  T,
                  Tdg,
                  Toffoli,
                  X,
                  Y,
                  Z,
                  gate_matrix,
)
from .frontend.qnode import QNode, qnode
from .io.qasm import QASMError  # noqa: E402
from .statevector.executor import DeviceUnavailableError  # noqa: E402
from .tensornet import plan

__version__ = "0.1.0"


def set_memory_limit(bytes) -> None:  # noqa: A002 - the engine's name for it
    """Cap every method's estimated peak memory (bytes); 0 restores the default (80% of available RAM)."""
    import math

    if isinstance(bytes, bool) or not isinstance(bytes, (int, float)) or math.isnan(bytes) or bytes < 0 \
            or math.isinf(bytes):
        raise ValueError(f"set_memory_limit: a finite number of bytes >= 0 (0 restores the default), got {bytes!r}")
    _core.set_memory_limit(bytes)


def cuda_available() -> bool:
    """Whether ``device="gpu"`` can run here: a CUDA build (``PYQML_CUDA=ON``) on a machine with a usable GPU.
    ``pyqml._core.cuda_unavailable_reason()`` says why not."""
    return bool(_core.cuda_available())


# Module paths of earlier releases (``pyqml.models``, ``pyqml.circuit``, ...) import the modules of the
# layered layout, so ``from pyqml.models import Sequential`` keeps working.
from ._engine import install_aliases as _install_aliases  # noqa: E402
from .frontend import execution  # noqa: E402,F401
from .qml import (  # noqa: E402,F401
                  datasets,
                  models,
                  studies,
                  templates,  # noqa: E402,F401
)
from .qml.optimizers import (  # noqa: E402
                  AdagradOptimizer,
                  AdamOptimizer,
                  GradientDescentOptimizer,
                  MomentumOptimizer,
                  NesterovMomentumOptimizer,
                  QNGOptimizer,
                  RMSPropOptimizer,
                  RotosolveOptimizer,
                  ScipyOptimizer,
                  SPSAOptimizer,
                  metric_tensor,
)
from .qml.templates import *  # noqa: F401,F403,E402

_install_aliases()


def __getattr__(name):
    # ``pq.numpy`` (autograd's numpy with requires_grad arrays, as pennylane.numpy) imports autograd on first use
    if name == "numpy":
        import importlib

        return importlib.import_module(".numpy", __name__)
    raise AttributeError(f"module 'pyqml' has no attribute {name!r}")
