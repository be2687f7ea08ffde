"""The contract every transport fulfils, and the two ways a send can fail.

A transport only moves one finished message to its destination. The send loop above it
(`comms.send.campaign`) owns the journal, retries, back-off, the rate limit and progress, so
a new transport is one small module (see docs/transports.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType

from comms.send.message import OutgoingMessage


@dataclass(frozen=True)
class SendResult:
    provider_id: str = ""  # the id the server or provider gave the message, if any


class DeliveryError(Exception):
    """The destination refused or could not take one message; `message` is French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientError(DeliveryError):
    """Worth trying again later: SMTP 4xx, a dropped connection, HTTP 429 or 5xx."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Trying again will not help: SMTP 5xx, HTTP 400. `bounce` when the address itself
    was refused (RFC 3463 class 5.1.x, 5.2.1: the address is then suppressed, unless the same
    refusal comes for several recipients in a row). `reply` is the server's answer with the
    recipient's address removed, to recognise the same refusal from one recipient to the
    next."""

    def __init__(self, message: str, bounce: bool = False, reply: str = ""):
        super().__init__(message)
        self.bounce = bounce
        self.reply = reply or message


class PolicyRefusal(DeliveryError):
    """The relay refuses to carry mail for us at all (RFC 3463 class 5.7.x: relay access
    denied, authentication required, sender not allowed): a configuration problem, never
    the recipient's fault. The run stops and nobody is suppressed; `check` says (in French)
    what to verify."""

    def __init__(self, message: str, check: str):
        super().__init__(message)
        self.check = check


class MaybeDeliveredError(DeliveryError):
    """Every byte of the message was handed over but the final reply never came (timeout,
    connection closed after the end of DATA): the server may have accepted it. The message
    is never sent again in the same run, nor later without an explicit request."""


class Transport(ABC):
    """Open once, send many, close. Configuration problems (missing setting, refused
    credentials, TLS failure) raise `comms.errors.ConfigError` and stop the whole run."""

    name: str = ""
    # Whether COMMS_RATE_PER_MINUTE applies (a local Maildir needs no pacing).
    rate_limited: bool = True
    # False for a transport that keeps messages on this machine (outbox): what it takes is
    # recorded as deposited, never as delivered, and a real transport sends it later.
    delivers: bool = True
    # Whether the transport hands over the message's RFC 5322 bytes (SMTP DATA, a file),
    # which the send loop then signs with DKIM when configured; False for an HTTP API that
    # builds the message itself from structured fields (Brevo).
    sends_raw: bool = True
    # How many messages the send loop hands over before calling `flush`, which makes them
    # durable together (1: `send` itself makes each message durable before returning). Only
    # a transport that keeps messages on this machine may batch: its `send` raises no
    # DeliveryError, and a CommsError stops the run (see `comms.send.campaign`).
    batch: int = 1

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def send(self, message: OutgoingMessage) -> SendResult: ...

    def flush(self) -> None:
        """Make every message `send` took since the last call durable: once this returns, a
        crash or a power cut loses none of them. Nothing to do when `batch` is 1."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
