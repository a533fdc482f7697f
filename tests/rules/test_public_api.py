"""The rules package exposes exactly its documented surface."""

from __future__ import annotations

import rules


def test_all_lists_exactly_the_public_names() -> None:
    """`__all__` is sorted and equals the package's public attributes (modules aside)."""
    public = {
        name
        for name in dir(rules)
        if not name.startswith("_") and not isinstance(getattr(rules, name), type(rules))
    }
    assert rules.__all__ == sorted(rules.__all__)
    assert set(rules.__all__) == public


def test_compile_returns_an_engine_policy() -> None:
    """RuleSet.compile gives an engine.Policy whose version derives from the source."""
    import engine

    policy = rules.RuleSet.compile("default max shipments 2", "p.rules")
    assert isinstance(policy, engine.Policy)
    assert policy.version.startswith("rules-") and len(policy.version) == len("rules-") + 12
    assert policy.version == rules.RuleSet.compile("default max shipments 2").version
    assert policy.version != rules.RuleSet.compile("default max shipments 1").version


def test_warnings_do_not_stop_compilation() -> None:
    """A policy with only warnings compiles and carries them."""
    policy = rules.RuleSet.compile('rule "r"\n  hold "everything"\n')
    assert [w.code for w in policy.warnings] == ["holds-everything"]
