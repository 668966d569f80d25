"""A support vector classifier with a quantum kernel on Iris: the fidelity |<phi(x)|phi(x')>|^2 of a
IQP feature map, the whole Gram matrix from one batched engine call per data set.

    python examples/quantum_kernel_svc.py
"""
from pyqml.datasets import load_iris, train_test_split
from pyqml.sklearn import QuantumKernel
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def main(feature_map: str = "iqp", reps: int = 1, seed: int = 0):
    X, y = load_iris()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.3, seed=seed)
    clf = make_pipeline(StandardScaler(), SVC(kernel=QuantumKernel(feature_map, reps=reps), C=10.0))
    clf.fit(Xtr, ytr)
    acc = clf.score(Xte, yte)
    print(f"quantum-kernel SVC ({feature_map}, reps={reps}): test accuracy {acc:.3f} on {len(yte)} rows")
    return acc


if __name__ == "__main__":
    main()
