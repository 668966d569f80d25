"""Templates: embeddings and trainable layers with PennyLane's definitions, weight shapes and ``shape``
helpers, Qiskit-style feature maps and ansatzes, and QAOA layers.

Every template records plain gates into the circuit being traced, so the engine sees ordinary gates and
its gradients (adjoint, parameter shift, finite differences) apply unchanged. Weights may be numbers or
traced weights; features may be numbers or traced inputs.

Non-affine functions of the inputs (the products ``x_i x_j`` of IQPEmbedding and ZZFeatureMap, the
state-preparation angles of AmplitudeEmbedding) become *derived input columns* computed in Python before
each engine call, with the chain rule applied to input gradients (see :mod:`pyqml.derived_inputs`).

Conventions are PennyLane's: wire 0 is the most significant bit; ``RX(t) = exp(-i t X / 2)``.
"""
from ._common import entangler_pairs
from .embeddings import AmplitudeEmbedding, AngleEmbedding, BasisEmbedding, IQPEmbedding, QAOAEmbedding
from .layers import BasicEntanglerLayers, RandomLayers, SimplifiedTwoDesign, StronglyEntanglingLayers
from .qaoa import QAOALayers, cost_layer, maxcut, mixer_layer
from .qiskit_style import EfficientSU2, HardwareEfficientAnsatz, RealAmplitudes, ZZFeatureMap

__all__ = [
    "AmplitudeEmbedding",
    "AngleEmbedding",
    "BasicEntanglerLayers",
    "BasisEmbedding",
    "EfficientSU2",
    "HardwareEfficientAnsatz",
    "IQPEmbedding",
    "QAOAEmbedding",
    "QAOALayers",
    "RandomLayers",
    "RealAmplitudes",
    "SimplifiedTwoDesign",
    "StronglyEntanglingLayers",
    "ZZFeatureMap",
    "cost_layer",
    "entangler_pairs",
    "maxcut",
    "mixer_layer",
]
