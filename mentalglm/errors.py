"""The errors a user can act on: a bad config, bad input data, a model that does not load, a service that refuses,
an adapter folder that is not complete. The CLI reports any `UserError` as one message and exit status 2; every
other exception is a bug and keeps its traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Base of the errors whose message tells the user what to change (file, key, line)."""


class ConfigError(UserError, ValueError):
    """A config that cannot be used; the message names the file, the key and, where known, the line."""


class DataError(UserError, ValueError):
    """Bad input data; the message names the file and, where it applies, the line."""

    def __init__(self, path: str | Path, line: int | None, reason: str, column: int | str | None = None):
        self.path, self.line, self.reason, self.column = str(path), line, reason, column
        where = str(path) if line is None else f"{path}:{line}"
        if line is not None and column is not None:
            where += f":{column}" if isinstance(column, int) else f" (field {column})"
        super().__init__(f"{where}: {reason}")


class ModelLoadError(UserError, RuntimeError):
    """The model or tokenizer named by `model.name_or_path` could not be loaded."""


class EndpointError(UserError, RuntimeError):
    """The service at `evaluate.endpoint` refused a request or answered something that is not a chat completion."""


class AdapterError(UserError, ValueError):
    """A location that is not a complete, published adapter folder; the message names the path and the file."""
