"""The methods under test. Every measurement test in this folder takes a ``method`` argument and runs once
per method listed here that claims the measurements the test is marked with
(``@pytest.mark.measurement("probs")``); a new method is tested by adding one line."""
import pytest

from pyqml.frontend.execution import method_class

METHODS = [
    "statevector",
    "tensornet",
    "mps",

    "densitymatrix",

    "trajectories",  # exact (zero standard error) on these noiseless circuits
]


def pytest_configure(config):
    config.addinivalue_line("markers", "measurement(*kinds): the measurements a method-parametrised test needs")


def pytest_generate_tests(metafunc):
    if "method" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("measurement")
    kinds = marker.args if marker else ("expval",)
    names = [m for m in METHODS if all(k in method_class(m).supports for k in kinds)]
    metafunc.parametrize("method", names or [pytest.param(None, marks=pytest.mark.skip(reason="no method"))])
