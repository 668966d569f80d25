"""The density-matrix method (``method="densitymatrix"``): noisy circuits, exact, with adjoint gradients."""
from .executor import DensityMatrixExecutor

__all__ = ["DensityMatrixExecutor"]
