"""The trajectories method (Monte Carlo wave function): noisy circuits as averages over state-vector
trajectories, with standard errors and unbiased adjoint gradients per trajectory (C++)."""
from __future__ import annotations

from .executor import TrajectoriesExecutor

__all__ = ["TrajectoriesExecutor"]
