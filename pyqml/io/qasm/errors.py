"""The one exception of the QASM reader."""
from __future__ import annotations


class QASMError(ValueError):
    """A problem in OpenQASM source; the message starts with ``line L, column C`` where known.

    Attributes
    ----------
    line, column : int or None
        1-based position of the problem in the source text.
    reason : str
        The message without its position.
    filename : str or None
        The file the source was read from, when it was read from a file (then the message starts with it).
    """

    def __init__(self, message: str, line: int | None = None, column: int | None = None,
                 filename: str | None = None):
        self.line = line
        self.column = column
        self.reason = message
        self.filename = filename
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
            message = f"{where}: {message}"
        if filename is not None:
            message = f"{filename}: {message}"
        super().__init__(message)
