"""The engine's front end: circuits and their operations, traced parameters, observables, measurements, the
executor protocol every method implements, and ``@pq.qnode``."""
