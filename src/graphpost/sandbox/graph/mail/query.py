"""OData options on message lists as Outlook reads them: the common `$filter`s and `$orderby`.

Supported filters: ``isRead``, ``hasAttachments``, ``importance``, ``subject`` (eq, ne,
startswith), ``from/emailAddress/address`` (eq), and ``receivedDateTime`` /
``sentDateTime`` compared with a UTC time; combined with ``and``, ``or``, ``not`` and
parentheses. Anything else is Outlook's 400, never a silent "match everything".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphpost.sandbox.graph.wire import GraphError

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<paren>[(),])|(?P<word>[A-Za-z_][\w/.:+-]*|\d[\w:.+-]*))"
)
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z$")
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
SORTABLE = {
    "receiveddatetime": "receivedDateTime",
    "sentdatetime": "sentDateTime",
    "subject": "subject",
}
_PROPERTIES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "isread": lambda m: m.get("isRead"),
    "hasattachments": lambda m: m.get("hasAttachments"),
    "importance": lambda m: m.get("importance"),
    "subject": lambda m: m.get("subject") or "",
    "receiveddatetime": lambda m: m.get("receivedDateTime"),
    "sentdatetime": lambda m: m.get("sentDateTime"),
    "from/emailaddress/address": lambda m: (
        ((m.get("from") or {}).get("emailAddress") or {}).get("address", "").lower()
    ),
}


def invalid_filter(detail: str) -> GraphError:
    return GraphError(
        400,
        "ErrorInvalidUrlQueryFilter",
        f"The query filter contains one or more invalid nodes. {detail}",
    )


@dataclass
class _Parser:
    tokens: list[str]
    position: int = 0
    properties_seen: list[str] | None = None

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise invalid_filter("The filter ends too early.")
        self.position += 1
        return token

    def expect(self, wanted: str) -> None:
        if self.take() != wanted:
            raise invalid_filter(f"'{wanted}' was expected.")

    # or-expression := and-expression ('or' and-expression)*
    def expression(self) -> Predicate:
        left = self.conjunction()
        while (self.peek() or "").lower() == "or":
            self.take()
            right = self.conjunction()
            left = (lambda a, b: lambda m: a(m) or b(m))(left, right)
        return left

    def conjunction(self) -> Predicate:
        left = self.term()
        while (self.peek() or "").lower() == "and":
            self.take()
            right = self.term()
            left = (lambda a, b: lambda m: a(m) and b(m))(left, right)
        return left

    def term(self) -> Predicate:
        word = self.take()
        if word.lower() == "not":
            inner = self.term()
            return lambda m: not inner(m)
        if word == "(":
            inner = self.expression()
            self.expect(")")
            return inner
        if word.lower() == "startswith":
            self.expect("(")
            name = self.property(self.take())
            self.expect(",")
            prefix = self.literal(self.take())
            self.expect(")")
            if name != "subject" or not isinstance(prefix, str):
                raise invalid_filter("startswith is supported on subject with a text value.")
            return lambda m: str(_PROPERTIES[name](m)).lower().startswith(prefix.lower())
        name = self.property(word)
        operator = self.take().lower()
        if operator not in COMPARISONS:
            raise invalid_filter(f"'{operator}' is not a comparison.")
        value = self.literal(self.take())
        return _comparison(name, operator, value)

    def property(self, token: str) -> str:
        name = token.lower()
        if name not in _PROPERTIES:
            raise invalid_filter(f"Filtering on '{token}' is not supported.")
        if self.properties_seen is not None:
            self.properties_seen.append(name)
        return name

    @staticmethod
    def literal(token: str) -> Any:
        if token.startswith("'"):
            return token[1:-1].replace("''", "'")
        if token.lower() in ("true", "false"):
            return token.lower() == "true"
        if _DATETIME.match(token):
            return token
        raise invalid_filter(f"'{token}' is not a value.")


def _comparison(name: str, operator: str, value: Any) -> Predicate:
    read = _PROPERTIES[name]
    if name in ("isread", "hasattachments"):
        if not isinstance(value, bool) or operator not in ("eq", "ne"):
            raise invalid_filter(f"{name} compares with eq or ne to true or false.")
    elif name.endswith("datetime"):
        if not isinstance(value, str) or not _DATETIME.match(value):
            raise invalid_filter(
                f"{name} compares with a UTC date and time such as 2026-01-31T00:00:00Z."
            )
        value = value[:19] + "Z"  # stored times have whole seconds
    elif not isinstance(value, str) or operator not in ("eq", "ne"):
        raise invalid_filter(f"{name} compares with eq or ne to a quoted value.")
    else:
        value = value.lower() if name == "from/emailaddress/address" else value

    def compare(message: dict[str, Any]) -> bool:
        actual = read(message)
        if name == "subject":
            actual, expected = str(actual).lower(), str(value).lower()
        else:
            expected = value
        if actual is None:
            return operator == "ne"
        outcome: bool = {
            "eq": actual == expected,
            "ne": actual != expected,
            "gt": actual > expected,
            "ge": actual >= expected,
            "lt": actual < expected,
            "le": actual <= expected,
        }[operator]
        return outcome

    return compare


def parse_filter(raw: str) -> tuple[Predicate, list[str]]:
    """A predicate over message resources, and the properties it names in order."""
    tokens: list[str] = []
    position = 0
    while position < len(raw):
        if raw[position:].strip() == "":
            break
        found = _TOKEN.match(raw, position)
        if found is None or found.end() == position:
            raise invalid_filter(f"Cannot read the filter at '{raw[position : position + 20]}'.")
        tokens.append(found.group("string") or found.group("paren") or found.group("word"))
        position = found.end()
    if not tokens:
        raise invalid_filter("The filter is empty.")
    parser = _Parser(tokens, properties_seen=[])
    predicate = parser.expression()
    if parser.peek() is not None:
        raise invalid_filter(f"Unexpected '{parser.peek()}'.")
    return predicate, parser.properties_seen or []


def parse_orderby(raw: str | None) -> list[tuple[str, bool]]:
    """(property, descending) pairs; the default is newest first."""
    if not raw:
        return [("receivedDateTime", True)]
    order: list[tuple[str, bool]] = []
    for part in raw.split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0].lower() not in SORTABLE:
            raise GraphError(
                400,
                "ErrorInvalidProperty",
                f"The property '{part.strip()}' cannot be used to sort.",
            )
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise GraphError(400, "BadRequest", f"'{words[1]}' is not a sort direction.")
        order.append((SORTABLE[words[0].lower()], direction == "desc"))
    return order


def check_filter_and_order(
    filtered: list[str], order: list[tuple[str, bool]], ordered_explicitly: bool
) -> None:
    """Outlook's rule: with both, the sort properties come first in the filter, in the same order."""
    if not filtered or not ordered_explicitly:
        return
    wanted = [name.lower() for name, _ in order]
    if filtered[: len(wanted)] != wanted:
        raise GraphError(
            400,
            "InefficientFilter",
            "The restriction or sort order is too complex for this operation.",
        )


def sort(messages: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """`messages` come newest first; equal values keep arrival order in the first key's direction."""
    if order and not order[0][1]:
        messages = list(reversed(messages))
    for name, descending in reversed(order):
        messages.sort(key=lambda m: _sort_value(m, name), reverse=descending)
    return messages


def _sort_value(message: dict[str, Any], name: str) -> str:
    value = str(message.get(name) or "")
    return value.lower() if name == "subject" else value
