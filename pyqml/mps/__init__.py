"""The matrix-product-state method (``method="mps"``): canonical-form MPS with SVD truncation by
``max_bond`` and ``cutoff``, every measurement, exact adjoint gradients of the computed values."""
from .executor import MPSExecutor, TruncationInfo, entropies, overlaps

__all__ = ["MPSExecutor", "TruncationInfo", "entropies", "overlaps"]
