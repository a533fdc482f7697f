"""Text → typed syntax tree. The Lark parser is built once per process from ``sortyard.lark``."""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from rules import _ast as a
from rules import _limits
from rules._diagnostics import Diagnostic, RulesError, RulesLimitError, Severity

__all__ = ["KEYWORDS", "parse", "parser"]

GRAMMAR_PATH = Path(__file__).with_name("sortyard.lark")

# Reserved words (the NAME terminal excludes exactly these).
KEYWORDS: frozenset[str] = frozenset(
    re.search(r"NAME: /\(\?!\(\?:([a-z_|]+)\)", GRAMMAR_PATH.read_text(encoding="utf-8"))
    .group(1)  # type: ignore[union-attr]  # the grammar file is ours; a missing NAME is a bug
    .split("|")
)

_PHRASES = {
    "STRING": 'a quoted text like "amazon"',
    "INT": "a whole number",
    "DECIMAL": "a number",
    "DATE": "a date like 2026-11-15",
    "TIME": "a time like 14:00",
    "NAME": "a field name",
    "COMPARE": "a comparison (==, !=, <, <=, >, >=)",
    "LPAR": '"("',
    "RPAR": '")"',
    "LSQB": '"["',
    "RSQB": '"]"',
    "COMMA": '","',
    "DOT": '"."',
    "PERCENT": '"%"',
    "UNITS": '"units"',
    "$END": "the end of the file",
}


@functools.cache
def parser(*, strict: bool = False) -> Lark:
    """The process-wide parser (LALR, contextual lexer); ``strict`` is for the grammar tests."""
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        strict=strict,
    )


_NOT_CHAIN = re.compile(rf"(?:\bnot\s+){{{_limits.MAX_NESTING_DEPTH + 1},}}")
_VALUE_TERMINALS = frozenset({"STRING", "INT", "DECIMAL", "DATE", "TIME"})


def _phrase(terminal: str) -> str:
    if terminal in _PHRASES:
        return _PHRASES[terminal]
    try:
        pattern = parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal.lower()
    if isinstance(pattern, PatternStr):
        return f'"{pattern.value}"'
    return terminal.lower()


def _expected_text(terminals: set[str]) -> str:
    if terminals >= _VALUE_TERMINALS:
        terminals = (terminals - _VALUE_TERMINALS - {"TRUE", "FALSE"}) | {"@value"}
    if {"INT", "DECIMAL"} <= terminals:
        terminals = terminals - {"INT"}
    phrases = sorted(
        "a value (quoted text, number, date, time, true or false)" if t == "@value" else _phrase(t)
        for t in terminals
    )
    if len(phrases) > 8:
        phrases = [*phrases[:8], "..."]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " or " + phrases[-1]


def _hint(expected: set[str], found: str) -> str:
    if found == "=":
        return "write == to compare"
    if found == "then":
        return "write the action right after the condition, without 'then'"
    amount = expected & {"PERCENT", "UNITS"} or (
        {"INT", "DECIMAL"} <= expected and len(expected) <= 2
    )
    if amount and not expected & {"COMPARE", "KM"}:
        return "expected a quantity like 20% or 5 units"
    words = [t.lower() for t in expected if t.lower() in KEYWORDS]
    close = difflib.get_close_matches(found.lower(), words, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if found.lower() in KEYWORDS:
        return f"'{found}' is a reserved word of the rules language"
    if expected & {"STRING"} and re.fullmatch(r"[A-Za-z0-9_.*?-]+", found):
        return f'put text in double quotes: "{found}"'
    return ""


def _syntax_diagnostic(err: UnexpectedInput, source: str) -> Diagnostic:
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            line, column = _end_position(source)
            return Diagnostic(
                Severity.ERROR,
                "syntax",
                f"unexpected end of file; expected {_expected_text(set(err.expected))}",
                a.Span(line, column, line, column + 1),
            )
        found = str(token.value)
        expected = set(err.accepts or err.expected)
        span = a.Span(
            token.line or 1,
            token.column or 1,
            token.end_line or token.line or 1,
            token.end_column or (token.column or 1) + len(found),
        )
        return Diagnostic(
            Severity.ERROR,
            "syntax",
            f"unexpected {found!r}; expected {_expected_text(expected)}",
            span,
            _hint(expected, found),
        )
    if isinstance(err, UnexpectedCharacters):
        rest = source[err.pos_in_stream :]
        word = re.match(r"[A-Za-z_][A-Za-z0-9_-]*|\S", rest)
        found = word.group(0) if word else rest[:1]
        expected = set(err.allowed or ())
        return Diagnostic(
            Severity.ERROR,
            "syntax",
            f"unexpected {found!r}; expected {_expected_text(expected)}",
            a.Span(err.line, err.column, err.line, err.column + len(found)),
            _hint(expected, found),
        )
    if isinstance(err, UnexpectedEOF):
        line, column = _end_position(source)
        return Diagnostic(
            Severity.ERROR,
            "syntax",
            f"unexpected end of file; expected {_expected_text(set(err.expected))}",
            a.Span(line, column, line, column + 1),
        )
    raise err  # pragma: no cover  # Lark has no other UnexpectedInput kinds


def _end_position(source: str) -> tuple[int, int]:
    """Line and column just after the last character that is not blank (where text is missing)."""
    text = source.rstrip()
    line = text.count("\n") + 1
    return line, len(text.rsplit("\n", 1)[-1]) + 1


def _check_size_and_nesting(source: str, file_name: str) -> None:
    """Reject oversized or too deeply nested input before the parser sees it."""
    size = len(source.encode("utf-8"))
    if size > _limits.MAX_SOURCE_BYTES:
        raise RulesLimitError(
            [
                Diagnostic(
                    Severity.ERROR,
                    "limit-file-size",
                    f"the file is {size:,} bytes; the limit is {_limits.MAX_SOURCE_BYTES:,}",
                    a.Span(1, 1, 1, 2),
                    "split the policy or remove unused rules",
                )
            ],
            source,
            file_name,
        )
    chain = _NOT_CHAIN.search(source)
    if chain is not None:  # `not not not ...` nests without parentheses
        line = source.count("\n", 0, chain.start()) + 1
        column = chain.start() - (source.rfind("\n", 0, chain.start()) + 1) + 1
        raise RulesLimitError(
            [
                Diagnostic(
                    Severity.ERROR,
                    "limit-nesting",
                    f"'not' repeats more than {_limits.MAX_NESTING_DEPTH} times in a row",
                    a.Span(line, column, line, column + 3),
                    "two nots cancel out; remove them in pairs",
                )
            ],
            source,
            file_name,
        )
    depth, line, column, in_string, in_comment = 0, 1, 0, False, False
    for char in source:
        column += 1
        if char == "\n":
            line, column, in_comment, in_string = line + 1, 0, False, False
        elif in_comment:
            continue
        elif char == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif char == "#":
            in_comment = True
        elif char == "(":
            depth += 1
            if depth > _limits.MAX_NESTING_DEPTH:
                raise RulesLimitError(
                    [
                        Diagnostic(
                            Severity.ERROR,
                            "limit-nesting",
                            f"parentheses nest deeper than {_limits.MAX_NESTING_DEPTH} levels",
                            a.Span(line, column, line, column + 1),
                            "split the condition into several rules",
                        )
                    ],
                    source,
                    file_name,
                )
        elif char == ")":
            depth = max(0, depth - 1)


def _span(node: Tree[Token] | Token) -> a.Span:
    if isinstance(node, Token):
        return a.Span(
            node.line or 1,
            node.column or 1,
            node.end_line or node.line or 1,
            node.end_column or 1,
        )
    meta = node.meta
    if getattr(meta, "empty", True):
        return a.Span(1, 1, 1, 1)
    return a.Span(meta.line, meta.column, meta.end_line, meta.end_column)


_OPERATORS: dict[str, a.CompareOp] = {
    "==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
    "in_list": "in", "not_in_list": "not in", "matches": "matches",
    "starts_with": "starts with", "contains": "contains", "before": "before", "after": "after",
}  # fmt: skip


class _TokenMeta:
    """A tree ``meta`` carrying one token's position (window dates are bare tokens)."""

    def __init__(self, token: Token) -> None:
        self.empty = False
        self.line, self.column = token.line, token.column
        self.end_line, self.end_column = token.end_line, token.end_column


class _Builder:
    """Lark tree → typed syntax tree, collecting literal errors (bad dates, times) on the way."""

    def __init__(self) -> None:
        self.errors: list[Diagnostic] = []
        self._cond: dict[str, Callable[[Tree[Token]], a.Cond]] = {
            "or_": lambda t: a.Or(self.chain(t), _span(t)),
            "and_": lambda t: a.And(self.chain(t), _span(t)),
            "not_": lambda t: a.Not(self.cond(t.children[0]), _span(t)),
            "group": lambda t: a.Group(self.cond(t.children[0]), _span(t)),
            "any_line": lambda t: a.AnyLine(self.cond(t.children[0]), _span(t)),
            "all_lines": lambda t: a.AllLines(self.cond(t.children[0]), _span(t)),
            "truthy": lambda t: a.Truthy(self.field(t.children[0]), _span(t)),  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        }

    # ---- literals ------------------------------------------------------------------------
    def string(self, token: Token) -> a.Value:
        text = str(token)
        inner = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        if len(inner) > _limits.MAX_STRING_LENGTH:
            self.errors.append(
                Diagnostic(
                    Severity.ERROR,
                    "limit-string",
                    f"text is {len(inner)} characters long; the limit is "
                    f"{_limits.MAX_STRING_LENGTH}",
                    _span(token),
                )
            )
        return a.Value("string", inner, text, _span(token))

    def value(self, node: Tree[Token] | Token) -> a.Value:
        if isinstance(node, Token):  # a bare INT (amount, max shipments, priority)
            return a.Value("integer", int(node), str(node), _span(node))
        kind = str(node.data)
        token = node.children[0] if node.children else None
        span = _span(node)
        if kind == "string":
            assert isinstance(token, Token)
            return self.string(token)
        if kind == "integer":
            return a.Value("integer", int(str(token)), str(token), span)
        if kind == "decimal":
            return a.Value("decimal", float(str(token)), str(token), span)
        if kind in ("true", "false"):
            return a.Value("bool", kind == "true", kind, span)
        text = str(token)
        if kind == "date":
            try:
                return a.Value("date", dt.date.fromisoformat(text), text, span)
            except ValueError:
                self.errors.append(
                    Diagnostic(
                        Severity.ERROR,
                        "bad-date",
                        f"{text} is not a calendar date",
                        span,
                        "write dates as YYYY-MM-DD, e.g. 2026-11-15",
                    )
                )
                return a.Value("date", dt.date(1970, 1, 1), text, span)
        if kind == "time":
            hour, minute = (int(part) for part in text.split(":"))
            if hour > 23 or minute > 59:
                self.errors.append(
                    Diagnostic(
                        Severity.ERROR,
                        "bad-time",
                        f"{text} is not a time of day",
                        span,
                        "write times as HH:MM on a 24-hour clock, e.g. 14:00",
                    )
                )
                hour, minute = 0, 0
            return a.Value("time", dt.time(hour, minute), text, span)
        raise AssertionError(f"unknown value node {kind}")  # pragma: no cover

    def list_value(self, node: Tree[Token]) -> a.ListValue:
        items = tuple(self.value(child) for child in node.children if child is not None)
        if len(items) > _limits.MAX_LIST_ITEMS:
            self.errors.append(
                Diagnostic(
                    Severity.ERROR,
                    "limit-list",
                    f"the list has {len(items):,} items; the limit is {_limits.MAX_LIST_ITEMS:,}",
                    _span(node),
                )
            )
        return a.ListValue(items, _span(node))

    # ---- conditions ----------------------------------------------------------------------
    def field(self, node: Tree[Token]) -> a.Field:
        root, *rest = node.children
        assert isinstance(root, Tree)
        path = [str(root.children[0])]
        key = None
        for child in rest:
            if isinstance(child, Token):
                path.append(str(child))
            elif isinstance(child, Tree) and child.data == "subscript":
                token = child.children[0]
                assert isinstance(token, Token)
                key = self.string(token).value
        assert key is None or isinstance(key, str)
        return a.Field(tuple(path), key, _span(node))

    def chain(self, node: Tree[Token]) -> tuple[a.Cond, ...]:
        """The operands of a left-deep ``a and b and c`` chain, collected without recursion."""
        rights: list[Tree[Token] | Token] = []
        kind = node.data
        while isinstance(node, Tree) and node.data == kind:
            rights.append(node.children[1])
            node = node.children[0]  # type: ignore[assignment]  # Lark types children loosely; the grammar fixes them
        return (self.cond(node), *(self.cond(right) for right in reversed(rights)))

    def cond(self, node: Tree[Token] | Token) -> a.Cond:
        assert isinstance(node, Tree)
        kind = str(node.data)
        if kind in self._cond:
            return self._cond[kind](node)
        field = self.field(node.children[0])  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        span = _span(node)
        args = node.children[1:]
        # The grammar's alternatives name the operator; the checker relies on these exact spellings.
        if kind == "compare":
            comparison, operand = args
            return a.Compare(field, _OPERATORS[str(comparison)], self.value(operand), span)
        if kind in ("in_list", "not_in_list"):
            return a.Compare(field, _OPERATORS[kind], self.list_value(args[0]), span)  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        if kind in ("matches", "starts_with", "contains"):
            token = args[0]
            assert isinstance(token, Token)
            return a.Compare(field, _OPERATORS[kind], self.string(token), span)
        if kind == "between":
            low, high = (self.value(arg) for arg in args)
            return a.Compare(field, "between", (low, high), span)
        if kind in ("before", "after"):
            return a.Compare(field, _OPERATORS[kind], self.value(args[0]), span)
        raise AssertionError(f"unknown condition node {kind}")  # pragma: no cover

    # ---- statements ----------------------------------------------------------------------
    def target(self, node: Tree[Token]) -> a.Target:
        kind = str(node.data)
        span = _span(node)
        child = node.children[0]
        if kind == "target_one":
            assert isinstance(child, Token)
            return a.Target("ids", ids=(self.string(child),), single=True, span=span)
        if kind == "target_list":
            assert isinstance(child, Tree)
            return a.Target("ids", ids=self.list_value(child).items, span=span)
        if kind == "target_tagged":
            assert isinstance(child, Token)
            return a.Target("tagged", tag=self.string(child), span=span)
        return a.Target("where", cond=self.cond(child), span=span)

    def amount(self, node: Tree[Token]) -> a.Amount:
        if node.data == "percent":
            return a.Amount("percent", self.value(node.children[0]), "", _span(node))
        count, unit = node.children
        assert isinstance(unit, Token)
        return a.Amount("units", self.value(count), str(unit), _span(node))

    def window(self, node: Tree[Token] | None) -> tuple[a.Value, a.Value] | None:
        if node is None:
            return None
        start, end = node.children
        assert isinstance(start, Token) and isinstance(end, Token)
        return self.date(start), self.date(end)

    def date(self, token: Token) -> a.Value:
        return self.value(Tree("date", [token], _TokenMeta(token)))  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them

    def sku_scope(self, node: Tree[Token] | None) -> a.SkuScope | None:
        if node is None:
            return None
        token = node.children[0]
        assert isinstance(token, Token)
        if node.data == "skus_matching":
            return a.SkuScope("matching", self.string(token), _span(node))
        return a.SkuScope("tagged", self.string(token), _span(node))

    def action(self, node: Tree[Token]) -> a.Action:
        kind = str(node.data)
        span = _span(node)
        children = node.children
        if kind == "exclude":
            return a.Exclude(self.target(children[0]), span)  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        if kind == "require":
            return a.Require(self.target(children[0]), span)  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        if kind == "prefer":
            return a.Prefer(self.target(children[0]), self.value(children[1]), span)  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        if kind == "hold":
            return a.Hold(self.string(children[0]), span)  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
        if kind == "max_shipments":
            return a.MaxShipments(self.value(children[0]), span)
        if kind == "ship_complete":
            return a.ShipComplete(span)
        if kind == "no_line_split":
            return a.NoLineSplit(span)
        raise AssertionError(f"unknown action {kind}")  # pragma: no cover

    def statement(self, node: Tree[Token]) -> a.Statement:
        kind = str(node.data)
        span = _span(node)
        children: list[Any] = list(node.children)
        if kind == "rule":
            name, priority, when, scope, *actions = children
            return a.Rule(
                name=self.string(name),
                priority=self.value(priority.children[0]) if priority is not None else None,
                when=self.cond(when.children[0]) if when is not None else None,
                line_scope=self.cond(scope.children[0]) if scope is not None else None,
                actions=tuple(self.action(action) for action in actions),
                span=span,
            )
        if kind == "reserve":
            amount, skus, channel, window = children
            return a.Reserve(
                self.amount(amount),
                self.sku_scope(skus),
                self.string(channel),
                self.window(window),
                span,
            )
        if kind == "safety_stock":
            amount, skus, channel = children
            return a.SafetyStock(
                self.amount(amount), self.sku_scope(skus), self.string(channel), span
            )
        if kind == "default_max_shipments":
            return a.DefaultMaxShipments(self.value(children[0]), span)
        if kind == "rank_distance":
            return a.Rank("distance", None, span)
        if kind == "rank_priority":
            return a.Rank("priority", self.list_value(children[0]), span)
        if kind == "rank_cost":
            return a.Rank("cost", None, span)
        if kind == "optimize":
            return a.Optimize(self.value(children[0]), self.value(children[1]), span)
        if kind == "timezone":
            return a.Timezone(self.string(children[0]), span)
        if kind == "shipping_cost":
            return a.ShippingCost(self.value(children[0]), span)
        if kind in ("refund_percent", "refund_none", "manual_review"):
            when = children[-1]
            cond = self.cond(when.children[0]) if when is not None else None
            if kind == "refund_percent":
                return a.Refund("percent", self.value(children[0]), cond, span)
            return a.Refund("none" if kind == "refund_none" else "manual_review", None, cond, span)
        if kind == "handling_cost":
            return a.HandlingCost(self.value(children[0]), self.target(children[1]), span)
        raise AssertionError(f"unknown statement {kind}")  # pragma: no cover


def parse(source: str, file_name: str = "<rules>") -> a.PolicyFile:
    """Parse ``source`` into a :class:`PolicyFile`. Raises :class:`RulesError` on a syntax error."""
    _check_size_and_nesting(source, file_name)
    comments: list[a.Comment] = []
    try:
        tree = parser().parse(source)
    except UnexpectedInput as err:
        raise RulesError([_syntax_diagnostic(err, source)], source, file_name) from None
    # Comments are %ignored by the grammar; recover them with a cheap scan that skips strings.
    for number, text in enumerate(source.splitlines(), start=1):
        column = _comment_column(text)
        if column is not None:
            comments.append(a.Comment(text[column:].rstrip(), number, column + 1))
    builder = _Builder()
    statements = [builder.statement(child) for child in tree.children]  # type: ignore[arg-type]  # Lark types children loosely; the grammar fixes them
    if len(statements) > _limits.MAX_STATEMENTS:
        raise RulesLimitError(
            [
                Diagnostic(
                    Severity.ERROR,
                    "limit-statements",
                    f"the file has {len(statements):,} statements; the limit is "
                    f"{_limits.MAX_STATEMENTS:,}",
                    statements[_limits.MAX_STATEMENTS].span,
                )
            ],
            source,
            file_name,
        )
    if builder.errors:
        raise RulesError(builder.errors, source, file_name)
    return a.PolicyFile(tuple(statements), tuple(comments), source, file_name)


def _comment_column(text: str) -> int | None:
    in_string = False
    escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            return index
    return None
