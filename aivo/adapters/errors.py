"""Typed errors of the adapter store; the HTTP layer maps them by their `status` and `code`."""

from __future__ import annotations

from aivo.errors import AivoError, InvalidRequest, NotFound


class AdapterNotFound(NotFound):
    """The student has no adapter, or not the version asked for."""

    code = "adapter_not_found"


class InvalidAdapter(InvalidRequest):
    """A folder given to `publish` is not a PEFT adapter, or its metadata is not JSON."""

    code = "invalid_adapter"


class AdapterCorrupt(AivoError):
    """A stored file does not match the checksum its manifest records."""

    status, code = 503, "adapter_corrupt"

    def __init__(self, file_name: str, message: str) -> None:
        super().__init__(message)
        self.file_name = file_name

    def __reduce__(self):  # keep the file name across process boundaries
        return (type(self), (self.file_name, self.message))


class AdapterConflict(AivoError):
    """Concurrent writers kept winning the manifest switch; trying again later will do."""

    status, code = 503, "adapter_conflict"


class AdapterStoreUnavailable(AivoError):
    """The storage backend could not be reached or refused the request."""

    status, code = 503, "adapter_store_unavailable"


class StudentDeleted(AivoError):
    """The student was deleted after this publish or clone was asked for: it must not bring
    them back. A new clone request, sent after the deletion, may."""

    status, code = 409, "student_deleted"
