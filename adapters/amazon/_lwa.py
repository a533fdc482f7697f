"""Login-with-Amazon token client aimed at a configurable endpoint, refreshing before expiry.

The library's own client caches tokens in a process-wide cache with a fixed TTL; ours keeps one
token per adapter and refreshes it when `expires_in` is nearly used up (the earlier of 5 minutes or
10 % of the lifetime before expiry), or when a call was refused because the token had expired.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from sp_api.auth import AccessTokenClient, AccessTokenResponse

__all__ = ["TokenState", "token_client_class"]


class TokenState:
    """The current access token of one adapter, shared by its SP-API clients."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.response: dict[str, Any] | None = None
        self.refresh_at = 0.0
        self.refreshes = 0

    def invalidate(self) -> None:
        with self.lock:
            self.refresh_at = 0.0


def token_client_class(lwa_endpoint: str, state: TokenState) -> type[AccessTokenClient]:
    parts = urlsplit(lwa_endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"--lwa-endpoint must be an http(s) URL, got {lwa_endpoint!r}")
    path = parts.path if parts.path not in ("", "/") else "/auth/o2/token"

    class LwaTokenClient(AccessTokenClient):  # type: ignore[misc]  # untyped library base class
        scheme = f"{parts.scheme}://"
        host = parts.netloc

        def get_auth(self) -> AccessTokenResponse:
            with state.lock:
                now = state.clock()
                if state.response is None or now >= state.refresh_at:
                    response = self._request(
                        self.scheme + self.host + path, self.data, self.headers
                    )
                    lifetime = float(response.get("expires_in") or 3600)
                    state.response = response
                    state.refresh_at = now + lifetime - min(300.0, lifetime * 0.1)
                    state.refreshes += 1
                return AccessTokenResponse(**state.response)

    return LwaTokenClient
