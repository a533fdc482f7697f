"""Sortyard's routing rules language: a policy as text, compiled into an ``engine.Policy``.

``RuleSet.compile(source, file_name, network=None)`` is the entry point; ``check``,
``format_source``, ``run_tests`` and ``explain`` are the toolchain behind ``sortyard rules``.
The language is documented in docs/rules.md.
"""

from rules._compile import CompiledPolicy
from rules._diagnostics import Diagnostic, RulesError, RulesLimitError, Severity, render
from rules._explain import explain
from rules._files import FileError
from rules._format import format_source
from rules._ruleset import RuleSet, check
from rules._testing import CaseResult, TestReport, run_tests, sidecar_path

__all__ = [
    "CaseResult",
    "CompiledPolicy",
    "Diagnostic",
    "FileError",
    "RuleSet",
    "RulesError",
    "RulesLimitError",
    "Severity",
    "TestReport",
    "check",
    "explain",
    "format_source",
    "render",
    "run_tests",
    "sidecar_path",
]
