"""Sortyard's gRPC server: services, validation, observability, and the ``sortyard`` CLI.

The public names are loaded on first use so that importing a sibling package (``server.store``)
does not pull in gRPC and the whole server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server._app import RunningServer, ServerOptions, start_server
    from server._runtime import PolicySource, StaticPolicySource

__all__ = ["PolicySource", "RunningServer", "ServerOptions", "StaticPolicySource", "start_server"]

_HOMES = {
    "RunningServer": "server._app",
    "ServerOptions": "server._app",
    "start_server": "server._app",
    "PolicySource": "server._runtime",
    "StaticPolicySource": "server._runtime",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'server' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
