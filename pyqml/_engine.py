"""Finding the compiled engine ``pyqml._core``, and the module paths of earlier releases.

``python -m pyqml ...`` run in the root of a clone puts the clone first on ``sys.path``, so Python imports the
source folder ``pyqml/``, which holds no compiled engine (``pip install .`` put it in site-packages). The
engine is then taken from the installed copy of the package; when there is none, the error says what happened
and what to run.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _installed_engine() -> str | None:
    """Path of ``_core`` in another copy of the package on sys.path (an installed one), or None."""
    for entry in sys.path:
        folder = os.path.join(os.path.abspath(entry or os.getcwd()), "pyqml")
        if os.path.normcase(folder) == os.path.normcase(_HERE) or not os.path.isdir(folder):
            continue
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_core" + suffix)
            if os.path.isfile(path):
                return path
    return None


def load_engine():
    """The module ``pyqml._core``."""
    try:
        return importlib.import_module("pyqml._core")
    except ImportError as first:
        if "pyqml._core" in sys.modules:
            del sys.modules["pyqml._core"]
        path = _installed_engine()
        if path is None:
            raise ImportError(
                f"pyqml's compiled engine (pyqml._core) is not built next to {_HERE}, and no installed copy of "
                f"pyqml was found on sys.path. Python imported the source folder (running from a clone's root "
                f"puts it first on sys.path). Install the package with `pip install .` (or `pip install -e .` "
                f"for development) in the clone's root, then run again (or use the `pyqml` command). "
                f"Original error: {first}") from None
        spec = importlib.util.spec_from_file_location("pyqml._core", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["pyqml._core"] = module
        spec.loader.exec_module(module)
        return module


# Old module path -> module of the layered layout. Resolved on first import, so optional modules (sklearn)
# still import only when asked for.
ALIASES = {
    "circuit": "frontend.circuit", "ops": "frontend.ops", "params": "frontend.params",
    "observables": "frontend.observables", "measurements": "frontend.measurements",
    "execution": "frontend.execution", "gradients": "frontend.gradients", "qnode": "frontend.qnode",
    "derived_inputs": "frontend.derived_inputs", "recording": "frontend.recording",
    "optimizers": "qml.optimizers", "models": "qml.models", "studies": "qml.studies",
    "datasets": "qml.datasets", "templates": "qml.templates", "sklearn": "qml.sklearn", "qasm": "io.qasm",
    "qiskit": "interfaces.qiskit",

    "generative": "qml.generative", "kernels": "qml.kernels", "shots": "frontend.shots", "device": "frontend.device",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # the import system set the alias's spec; the module keeps its own


class AliasFinder(importlib.abc.MetaPathFinder):
    """Imports ``pyqml.<old>`` as the module ``pyqml.<new>`` of :data:`ALIASES`."""

    def find_spec(self, fullname, path=None, target=None):
        pkg, _, old = fullname.partition(".")
        if pkg != "pyqml" or old not in ALIASES:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader("pyqml." + ALIASES[old]))


def install_aliases() -> None:
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())
