"""The quantum machine learning layer: templates (embeddings, layers, Qiskit-style circuits, QAOA),
optimisers and the metric tensor, hybrid models, scikit-learn estimators, data sets and studies."""
