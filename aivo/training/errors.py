"""Typed errors of a clone: what is wrong with the dataset, or why it could not be read.

Messages name a line number and a field, never the text of the line: datasets are student data.
"""

from __future__ import annotations

from aivo.errors import AivoError, InvalidRequest, NotFound


class DatasetError(InvalidRequest):
    """A dataset line that is not a valid example (or the dataset as a whole is unusable)."""

    code = "invalid_dataset"

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line
        self.reason = message

    def __reduce__(self):  # keep the line number across process boundaries
        return (type(self), (self.reason, self.line))


class DatasetNotFound(NotFound):
    """The dataset URI names no file or S3 object."""

    code = "dataset_not_found"


class DatasetUnavailable(AivoError):
    """The dataset's storage could not be reached or refused the request."""

    status, code = 503, "dataset_unavailable"
