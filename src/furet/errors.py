"""The exception tree. Every message says what went wrong and what to do about it."""

from __future__ import annotations


class FuretError(Exception):
    """Base of every error furet raises on purpose; the CLI prints it without a traceback."""

    #: HTTP status the API maps this error to.
    status_code = 400


class NotFoundError(FuretError):
    status_code = 404


class AlreadyExistsError(FuretError):
    status_code = 409


class AuthenticationError(FuretError):
    """No valid session or API key (or a revoked key, or a disabled account)."""

    status_code = 401


class QuotaExceededError(FuretError):
    """The caller's daily quota is spent; it resets at 00:00 UTC."""

    status_code = 429


class RetryLaterError(FuretError):
    """Refused for now; ``retry_after`` seconds later it may be accepted (``Retry-After``)."""

    status_code = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooManyAttemptsError(RetryLaterError):
    """Too many failed logins for this account name or client address."""


class ServerBusyError(RetryLaterError):
    """The server is at a resource limit (e.g. image pixels being decoded); retry shortly."""

    status_code = 503


class InvalidInputError(FuretError):
    status_code = 422


class PermissionDeniedError(FuretError):
    status_code = 403


class PayloadTooLargeError(FuretError):
    status_code = 413


class MediaError(FuretError):
    """A file that cannot be decoded as an image or a video."""

    status_code = 422


class ModelUnavailableError(FuretError):
    """An embedder's weights are missing; the message says what to fetch and where to put it."""

    status_code = 503


class RegistryError(FuretError):
    status_code = 500
