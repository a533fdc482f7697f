"""The canonical layout of a rules file. Comments are kept; formatting twice changes nothing.

Layout: one statement per line, except rules, which put each clause on its own line indented by two
spaces; a blank line around every rule; one-line statements stay together unless the author
separated them with a blank line. A comment on its own line stays above the statement that follows
it; a comment at the end of a line stays at the end of that clause's line.
"""

from __future__ import annotations

from rules import _ast as a
from rules._parser import parse

__all__ = ["format_cond", "format_policy", "format_source"]

INDENT = "  "


def _string(value: a.Value) -> str:
    text = str(value.value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def format_value(value: a.Value) -> str:
    if value.kind == "string":
        return _string(value)
    if value.kind == "time":
        return value.as_time().strftime("%H:%M")
    if value.kind == "date":
        return value.as_date().isoformat()
    return value.text


def _list(values: a.ListValue | tuple[a.Value, ...]) -> str:
    items = values.items if isinstance(values, a.ListValue) else values
    return "[" + ", ".join(format_value(v) for v in items) + "]"


def format_cond(cond: a.Cond) -> str:
    """A condition on one line, with exactly the parentheses the author wrote."""
    if isinstance(cond, a.And):
        return " and ".join(format_cond(operand) for operand in cond.operands)
    if isinstance(cond, a.Or):
        return " or ".join(format_cond(operand) for operand in cond.operands)
    if isinstance(cond, a.Not):
        return f"not {format_cond(cond.operand)}"
    if isinstance(cond, a.Group):
        return f"({format_cond(cond.inner)})"
    if isinstance(cond, a.AnyLine):
        return f"any line ({format_cond(cond.cond)})"
    if isinstance(cond, a.AllLines):
        return f"all lines ({format_cond(cond.cond)})"
    if isinstance(cond, a.Truthy):
        return cond.field.name
    operand = cond.operand
    if isinstance(operand, a.ListValue):
        right = _list(operand)
    elif isinstance(operand, tuple):
        right = f"{format_value(operand[0])} and {format_value(operand[1])}"
    else:
        right = format_value(operand)
    return f"{_field(cond.field)} {cond.op} {right}"


def _field(field: a.Field) -> str:
    text = ".".join(field.path)
    if field.key is not None:
        text += "[" + _string(a.Value("string", field.key, "", field.span)) + "]"
    return text


def _target(target: a.Target) -> str:
    if target.kind == "ids":
        if target.single:
            return f"warehouse {format_value(target.ids[0])}"
        return f"warehouses {_list(target.ids)}"
    if target.kind == "tagged":
        assert target.tag is not None
        return f"warehouses tagged {format_value(target.tag)}"
    assert target.cond is not None
    return f"warehouses where {format_cond(target.cond)}"


def _amount(amount: a.Amount) -> str:
    if amount.unit == "percent":
        return f"{amount.value.text}%"
    return f"{amount.value.text} {amount.unit_text}"


def _skus(scope: a.SkuScope | None) -> str:
    if scope is None:
        return ""
    return f" of skus {scope.kind} {format_value(scope.pattern)}"


def _action(action: a.Action) -> str:
    if isinstance(action, a.Exclude):
        return f"exclude {_target(action.target)}"
    if isinstance(action, a.Require):
        return f"require {_target(action.target)}"
    if isinstance(action, a.Prefer):
        return f"prefer {_target(action.target)} by {action.bonus_km.text} km"
    if isinstance(action, a.Hold):
        return f"hold {format_value(action.reason)}"
    if isinstance(action, a.MaxShipments):
        return f"max shipments {action.count.text}"
    if isinstance(action, a.ShipComplete):
        return "ship complete"
    return "no line split"


def _clauses(statement: a.Statement) -> list[tuple[int, str]]:
    """(source line where the clause starts, canonical text) for each output line."""
    if isinstance(statement, a.Rule):
        head = f"rule {format_value(statement.name)}"
        if statement.priority is not None:
            head += f" priority {statement.priority.text}"
        out = [(statement.span.line, head)]
        if statement.when is not None:
            out.append((statement.when.span.line, f"{INDENT}when {format_cond(statement.when)}"))
        if statement.line_scope is not None:
            out.append(
                (
                    statement.line_scope.span.line,
                    f"{INDENT}for lines where {format_cond(statement.line_scope)}",
                )
            )
        out.extend((action.span.line, INDENT + _action(action)) for action in statement.actions)
        return out
    if isinstance(statement, a.Reserve):
        text = f"reserve {_amount(statement.amount)}{_skus(statement.skus)} for "
        text += format_value(statement.channel)
        if statement.window is not None:
            start, end = statement.window
            text += f" between {format_value(start)} and {format_value(end)}"
    elif isinstance(statement, a.SafetyStock):
        text = f"safety stock {_amount(statement.amount)}{_skus(statement.skus)} for "
        text += format_value(statement.channel)
    elif isinstance(statement, a.DefaultMaxShipments):
        text = f"default max shipments {statement.count.text}"
    elif isinstance(statement, a.Rank):
        text = f"rank by {statement.kind}"
        if statement.order is not None:
            text += f" {_list(statement.order)}"
    elif isinstance(statement, a.Optimize):
        text = (
            f"optimize weights shipment {statement.shipment_weight.text} "
            f"km {statement.km_weight.text}"
        )
    elif isinstance(statement, a.Timezone):
        text = f"timezone {format_value(statement.name)}"
    elif isinstance(statement, a.ShippingCost):
        text = f"shipping cost {statement.per_km.text} per km"
    elif isinstance(statement, a.Refund):
        if statement.kind == "percent":
            assert statement.percent is not None
            text = f"refund {statement.percent.text}%"
        else:
            text = "refund none" if statement.kind == "none" else "manual review"
        if statement.when is not None:
            text += f" when {format_cond(statement.when)}"
    else:
        text = f"handling cost {statement.cost.text} at {_target(statement.target)}"
    return [(statement.span.line, text)]


def format_policy(policy: a.PolicyFile) -> str:
    source_lines = policy.source.splitlines()

    def blank_after(line: int) -> bool:
        return line < len(source_lines) and not source_lines[line].strip()

    # Sort comments into: before statement i (own line), at the end of a clause, or at the end.
    statements = policy.statements
    leading: dict[int, list[a.Comment]] = {i: [] for i in range(len(statements))}
    trailing: dict[tuple[int, int], str] = {}
    tail: list[a.Comment] = []
    clauses = [_clauses(s) for s in statements]
    for comment in policy.comments:
        own_line = not source_lines[comment.line - 1][: comment.column - 1].strip()
        owner = next((i for i, s in enumerate(statements) if s.span.end_line >= comment.line), None)
        if owner is None:
            tail.append(comment)
            continue
        statement = statements[owner]
        if not own_line and statement.span.line <= comment.line:
            starts = [line for line, _ in clauses[owner]]
            if comment.line in starts:  # the last clause starting on the comment's line
                key = (owner, len(starts) - 1 - starts[::-1].index(comment.line))
                if key not in trailing:
                    trailing[key] = comment.text
                    continue
        leading[owner].append(comment)

    out: list[str] = []
    previous: a.Statement | None = None
    for index, statement in enumerate(statements):
        if previous is not None:
            separate = isinstance(statement, a.Rule) or isinstance(previous, a.Rule)
            first_line = leading[index][0].line if leading[index] else statement.span.line
            if (
                separate
                or blank_after(previous.span.end_line)
                or (
                    first_line - 1 > previous.span.end_line
                    and not source_lines[first_line - 2].strip()
                )
            ):
                out.append("")
        for comment in leading[index]:
            out.append(comment.text)
            if blank_after(comment.line) and comment is leading[index][-1] and index == 0:
                out.append("")  # a file header comment keeps its blank line
        for position, (_, text) in enumerate(clauses[index]):
            note = trailing.get((index, position))
            out.append(f"{text}  {note}" if note else text)
        previous = statement
    if tail:
        if out:
            out.append("")
        out.extend(comment.text for comment in tail)
    return "\n".join(out) + "\n" if out else ""


def format_source(source: str, file_name: str = "<rules>") -> str:
    """The canonical layout of ``source``. Raises :class:`RulesError` if it does not parse."""
    return format_policy(parse(source, file_name))
