"""pyqml: quantum circuits for machine learning, simulated by a C++ engine (state vector and tensor
network) with exact batched gradients."""
from __future__ import annotations

import os as _os

# Idle OpenMP workers sleep instead of spinning: batches are one parallel region per call, and spinning
# workers stall everything when the machine's cores are shared with other processes. Read once, when the
# OpenMP runtime loads; a value the user set wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import _core  # noqa: E402
from ._core import MemoryLimitError, get_num_threads, memory_limit, set_memory_limit, set_num_threads  # noqa: E402
from .circuit import Circuit
from .io.qasm import QASMError  # noqa: E402
from .measurements import Measurement, expval, jacobian, probs, sample, state, var
from .observables import Hamiltonian, Observable
from .ops import (
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
from .qnode import QNode, qnode
from .tensornet import plan

__version__ = "0.1.0"

from . import (  # noqa: E402,F401
                  datasets,
                  models,
                  studies,  # noqa: E402,F401
)
from .optimizers import (  # noqa: E402
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
from .templates import *  # noqa: F401,F403,E402
