"""Client-side token buckets, one per SP-API operation, seeded from Amazon's published usage plans
and adapted to the `x-amzn-RateLimit-Limit` header Amazon sends back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from adapters.amazon._rates import PUBLISHED_RATES, UsagePlan

__all__ = ["RateLimiter", "TokenBucket"]


class TokenBucket:
    """`rate` tokens per second up to `burst`; `acquire()` sleeps (injectable) until a token is
    there."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"rate must be > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> float:
        """Takes one token; returns the seconds spent waiting for it."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                # Within rounding of a whole token counts as one: otherwise float error can leave
                # 0.9999999 forever and the delay below shrinks to nothing.
                if self._tokens >= 1 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                delay = (1 - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay

    def set_rate(self, rate: float) -> None:
        if rate > 0:
            with self._lock:
                self._refill()
                self.rate = rate

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens


class RateLimiter:
    """A bucket per operation. `scale` multiplies every rate (tests and the sandbox run faster than
    Amazon allows; production keeps 1.0)."""

    def __init__(
        self,
        plans: Mapping[str, UsagePlan] = PUBLISHED_RATES,
        *,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.scale = scale
        self._buckets = {
            op: TokenBucket(plan.rate * scale, plan.burst, clock=clock, sleep=sleep)
            for op, plan in plans.items()
        }

    def bucket(self, operation: str) -> TokenBucket:
        return self._buckets[operation]

    def acquire(self, operation: str) -> float:
        return self._buckets[operation].acquire()

    def observe(self, operation: str, header: str | None) -> None:
        """Adopts the rate Amazon says it applied to this seller and application."""
        if not header:
            return
        try:
            rate = float(header)
        except ValueError:
            return
        if rate > 0:
            self._buckets[operation].set_rate(rate * self.scale)
