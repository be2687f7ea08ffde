"""When to send: a global rate limit and the back-off between attempts."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from comms.settings import Settings


class RateLimiter:
    """At most `per_minute` messages a minute, evenly spaced, measured when each message
    leaves (not when it was planned). 0 means no limit."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter (half to all of the exponential step); a
    Retry-After from the server is a floor."""

    max_attempts: int = 5
    base: float = 2.0
    cap: float = 300.0
    max_wait: float = 600.0  # a longer Retry-After stops the run instead of sleeping

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(max_attempts=settings.max_attempts, base=settings.retry_base_seconds,
                   cap=max(settings.retry_base_seconds, 300.0),
                   max_wait=settings.retry_max_wait_seconds)

    def delay(self, attempt: int, retry_after: float | None,
              rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        rng = rng or random
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        delay = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay
