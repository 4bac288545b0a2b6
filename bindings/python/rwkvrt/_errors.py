"""The exceptions rwkvrt raises: one class per status code of the C API."""

from __future__ import annotations


class Error(Exception):
    """A failure reported by the rwkvrt library; the message is the library's own.

    ``status`` is the C status name, e.g. ``"RWKVRT_ERR_FORMAT"``.
    """

    status: str = "RWKVRT_ERR_INTERNAL"


class ArgumentError(Error, ValueError):
    """An argument out of range: a bad option, an empty input, a wrong length."""

    status = "RWKVRT_ERR_ARGUMENT"


class FileError(Error, OSError):
    """The file system refused: a missing file, no permission, a full disk."""

    status = "RWKVRT_ERR_IO"


class FormatError(Error):
    """The bytes are not what the format requires (truncated, foreign, malformed)."""

    status = "RWKVRT_ERR_FORMAT"


class UnsupportedError(Error):
    """A valid file this version cannot use (an unknown architecture, a newer format)."""

    status = "RWKVRT_ERR_UNSUPPORTED"


class ModelMismatchError(Error):
    """An object made for another model: a state, a tokenizer or a sampler."""

    status = "RWKVRT_ERR_MISMATCH"


class CorruptStateError(Error):
    """A checksum or consistency check failed: saved bytes were damaged or truncated."""

    status = "RWKVRT_ERR_CORRUPT"


class TokenError(Error, ValueError):
    """A token id outside ``[0, n_vocab)``."""

    status = "RWKVRT_ERR_TOKEN"


class OutOfMemoryError(Error, MemoryError):
    """An allocation failed."""

    status = "RWKVRT_ERR_NOMEM"


class InternalError(Error):
    """A bug in rwkvrt; please report it with the message."""

    status = "RWKVRT_ERR_INTERNAL"


_BY_STATUS = {cls.status: cls for cls in (ArgumentError, FileError, FormatError, UnsupportedError,
                                          ModelMismatchError, CorruptStateError, TokenError,
                                          OutOfMemoryError, InternalError)}

# Tracebacks and pickles name the classes where users find them.
for _cls in (Error, *_BY_STATUS.values()):
    _cls.__module__ = "rwkvrt"


def _make_error(status: str, message: str) -> Error:
    """The exception for a C status name (called by the extension module)."""
    # RWKVRT_ERR_BUFFER never reaches Python (the binding sizes its buffers): it would be a bug.
    error = _BY_STATUS.get(status, InternalError)(message)
    error.status = status
    return error
