"""The tensor-network method: reverse light cones per Pauli term, structure-shared contraction plans,
C++ pairwise contraction (permutation + BLAS GEMM) and reverse-mode gradients through the tree."""
from __future__ import annotations

from .amplitudes import amplitude, amplitudes
from .executor import TensorNetExecutor, TensorNetPlan, plan
from .marginals import marginal_probs, reduced_density_matrix
from .network import build_network, clear_plan_cache, contraction_steps, plan_for

__all__ = ["amplitude", "amplitudes", "marginal_probs", "reduced_density_matrix", "TensorNetExecutor",
           "TensorNetPlan", "plan", "build_network", "clear_plan_cache", "contraction_steps", "plan_for"]
