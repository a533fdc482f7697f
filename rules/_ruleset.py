"""The façade: text in, checked and compiled :class:`engine.Policy` out."""

from __future__ import annotations

import hashlib
from typing import Any

from rules._check import check_policy
from rules._compile import CompiledPolicy, compile_policy
from rules._diagnostics import Diagnostic, RulesError, Severity
from rules._parser import parse
from rules._schema import warehouses_of

__all__ = ["RuleSet", "check"]


def check(source: str, file_name: str = "<rules>", network: Any = None) -> list[Diagnostic]:
    """Every error and warning in ``source`` (a syntax error stops at the first one).

    ``network`` (an ``engine.Network`` or a sequence of ``engine.Warehouse``) enables checks of
    warehouse ids and tags; without it those names are not checked.
    """
    try:
        policy = parse(source, file_name)
    except RulesError as error:
        return list(error.diagnostics)
    warehouses = warehouses_of(network) if network is not None else None
    return check_policy(policy, warehouses)


class RuleSet:
    """Compiles rules text into a routing policy. The one entry point of the rules language."""

    @staticmethod
    def compile(
        source: str,
        file_name: str = "<rules>",
        network: Any = None,
        *,
        version: str | None = None,
    ) -> CompiledPolicy:
        """Parse, check and compile ``source``.

        Raises :class:`RulesError` (a ``ValueError``) carrying every diagnostic when there is any
        error; warnings alone do not stop compilation (they are on ``policy.warnings``). The
        version defaults to ``rules-`` and the first 12 hex digits of the source's SHA-256.
        """
        policy = parse(source, file_name)
        warehouses = warehouses_of(network) if network is not None else None
        diagnostics = check_policy(policy, warehouses)
        if any(d.severity is Severity.ERROR for d in diagnostics):
            raise RulesError(diagnostics, source, file_name)
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
        compiled = compile_policy(policy, version=version or f"rules-{digest}")
        compiled.warnings = tuple(d for d in diagnostics if d.severity is Severity.WARNING)
        return compiled
