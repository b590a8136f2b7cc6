"""OData options on message lists as Graph and Outlook read them: `$filter`, `$orderby`, `$select`.

A bad option is refused by one of two layers, as in the cloud:

- Graph's OData parser reads the option against the schema first: a syntax error, a name the
  message type does not have, or a value of the wrong type is 400 ``BadRequest`` "Invalid filter
  clause: ..." for ``$filter`` and 400 ``RequestBroker--ParseUri`` "Could not find a property
  named ..." for ``$select`` and ``$orderby``;
- Exchange then refuses what parses but what it will not run with 400
  ``ErrorInvalidUrlQueryFilter`` "The query filter contains one or more invalid nodes." (for
  example a filter on ``toRecipients``).  The sandbox answers that way for every filter it does not
  run, never a silent "match everything".

Filters run here: ``eq``/``ne`` (and ``gt``/``ge``/``lt``/``le`` on times) on ``isRead``,
``isDraft``, ``hasAttachments``, ``importance``, ``inferenceClassification``, ``flag/flagStatus``,
``subject``, ``conversationId``, ``parentFolderId``, ``internetMessageId``,
``from|sender/emailAddress/address|name`` and the four ``...DateTime`` properties;
``startswith`` and ``contains`` on those texts; ``categories/any(c:c eq '...')``;
``singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...')``; joined with
``and``, ``or``, ``not`` and parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphpost.sandbox.graph.wire import GraphError

Predicate = Callable[[dict[str, Any]], bool]

# microsoft.graph.message with what it inherits from outlookItem and entity (v1.0 schema)
MESSAGE_PROPERTIES = {
    name.lower(): (name, kind)
    for name, kind in (
        ("id", "Edm.String"),
        ("categories", "Collection(Edm.String)"),
        ("changeKey", "Edm.String"),
        ("createdDateTime", "Edm.DateTimeOffset"),
        ("lastModifiedDateTime", "Edm.DateTimeOffset"),
        ("bccRecipients", "Collection(graph.recipient)"),
        ("body", "graph.itemBody"),
        ("bodyPreview", "Edm.String"),
        ("ccRecipients", "Collection(graph.recipient)"),
        ("conversationId", "Edm.String"),
        ("conversationIndex", "Edm.Binary"),
        ("flag", "graph.followupFlag"),
        ("from", "graph.recipient"),
        ("hasAttachments", "Edm.Boolean"),
        ("importance", "graph.importance"),
        ("inferenceClassification", "graph.inferenceClassificationType"),
        ("internetMessageHeaders", "Collection(graph.internetMessageHeader)"),
        ("internetMessageId", "Edm.String"),
        ("isDeliveryReceiptRequested", "Edm.Boolean"),
        ("isDraft", "Edm.Boolean"),
        ("isRead", "Edm.Boolean"),
        ("isReadReceiptRequested", "Edm.Boolean"),
        ("parentFolderId", "Edm.String"),
        ("receivedDateTime", "Edm.DateTimeOffset"),
        ("replyTo", "Collection(graph.recipient)"),
        ("sender", "graph.recipient"),
        ("sentDateTime", "Edm.DateTimeOffset"),
        ("subject", "Edm.String"),
        ("toRecipients", "Collection(graph.recipient)"),
        ("uniqueBody", "graph.itemBody"),
        ("webLink", "Edm.String"),
        # navigation properties ($select accepts them; they are never in a filter here)
        ("attachments", "Collection(graph.attachment)"),
        ("extensions", "Collection(graph.extension)"),
        ("multiValueExtendedProperties", "Collection(graph.multiValueLegacyExtendedProperty)"),
        ("singleValueExtendedProperties", "Collection(graph.singleValueLegacyExtendedProperty)"),
    )
}
# the complex types a filter path may walk through, and their members
COMPLEX_MEMBERS: dict[str, dict[str, tuple[str, str]]] = {
    "graph.recipient": {"emailaddress": ("emailAddress", "graph.emailAddress")},
    "graph.emailAddress": {
        "address": ("address", "Edm.String"),
        "name": ("name", "Edm.String"),
    },
    "graph.itemBody": {
        "content": ("content", "Edm.String"),
        "contenttype": ("contentType", "graph.bodyType"),
    },
    "graph.followupFlag": {"flagstatus": ("flagStatus", "graph.followupFlagStatus")},
}
ENUMS = {
    "graph.importance": ("low", "normal", "high"),
    "graph.inferenceClassificationType": ("focused", "other"),
    "graph.followupFlagStatus": ("notFlagged", "complete", "flagged"),
    "graph.bodyType": ("text", "html"),
}
TIMES = ("receivedDateTime", "sentDateTime", "createdDateTime", "lastModifiedDateTime")
# the paths the sandbox can filter on, and the properties it can sort by
FILTERABLE = {
    "isRead",
    "isDraft",
    "hasAttachments",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "importance",
    "inferenceClassification",
    "flag/flagStatus",
    "subject",
    "conversationId",
    "parentFolderId",
    "internetMessageId",
    "from/emailAddress/address",
    "from/emailAddress/name",
    "sender/emailAddress/address",
    "sender/emailAddress/name",
    *TIMES,
}
TEXT_FUNCTIONS = ("startswith", "contains")
ODATA_FUNCTIONS = {"startswith", "endswith", "contains", "tolower", "toupper", "length", "trim"}
SORTABLE = {
    *TIMES,
    "subject",
    "importance",
    "isRead",
    "hasAttachments",
    "from/emailAddress/address",
    "from/emailAddress/name",
}
MAX_DEPTH = 100  # ODataLib's default limit on a filter's nesting
_IMPORTANCE_RANK = {"low": 0, "normal": 1, "high": 2}
_OPERATORS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual"}
_OPERATORS |= {"lt": "LessThan", "le": "LessThanOrEqual"}

_TOKEN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<time>\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))?)(?![\w:.-])"
    r"|(?P<number>-?\d+(?:\.\d+)?)(?![\w.])"
    r"|(?P<path>[A-Za-z_]\w*(?:/[A-Za-z_]\w*)*)"
    r"|(?P<punct>[(),:])"
)


def _bad_filter(detail: str) -> GraphError:
    """Graph's OData parser refusing a $filter it cannot read against the schema."""
    return GraphError(400, "BadRequest", f"Invalid filter clause: {detail}")


def not_run() -> GraphError:
    """Exchange refusing a filter that parses but that it will not run."""
    return GraphError(
        400,
        "ErrorInvalidUrlQueryFilter",
        "The query filter contains one or more invalid nodes.",
    )


def _no_property(name: str, on_type: str = "microsoft.graph.message") -> str:
    return f"Could not find a property named '{name}' on type '{on_type}'."


@dataclass(frozen=True)
class Token:
    kind: str  # string, time, number, path, punct, end
    text: str
    position: int


def _tokens(raw: str) -> list[Token]:
    found: list[Token] = []
    position = 0
    while position < len(raw):
        match = _TOKEN.match(raw, position)
        if match is None or match.end() == position:
            raise _bad_filter(f"Syntax error at position {position} in '{raw}'.")
        kind = match.lastgroup or ""
        if kind != "space":
            found.append(Token(kind, match.group(), position))
        position = match.end()
    found.append(Token("end", "", len(raw)))
    return found


@dataclass
class Filter:
    """A parsed $filter: the predicate and the properties it names, in order of appearance."""

    predicate: Predicate
    properties: list[str] = field(default_factory=list)


@dataclass
class _Operand:
    kind: str  # an EDM or graph type name
    path: str | None = None  # a property path, canonical spelling
    value: Any = None  # a literal's value


@dataclass
class _Parser:
    raw: str
    tokens: list[Token]
    position: int = 0
    properties: list[str] = field(default_factory=list)
    depth: int = 0

    def peek(self) -> Token:
        return self.tokens[self.position]

    def take(self) -> Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "path" and token.text.lower() == word:
            self.position += 1
            return True
        return False

    def expect(self, text: str, wanted: str) -> None:
        token = self.take()
        if token.text != text:
            raise _bad_filter(f"{wanted} expected at position {token.position} in '{self.raw}'.")

    # expression := conjunction ('or' conjunction)*
    def expression(self) -> Predicate:
        either = [self.conjunction()]
        while self.keyword("or"):
            either.append(self.conjunction())
        if len(either) == 1:
            return either[0]
        return lambda m: any(p(m) for p in either)  # flat, however long the chain

    def conjunction(self) -> Predicate:
        every = [self.unary()]
        while self.keyword("and"):
            every.append(self.unary())
        if len(every) == 1:
            return every[0]
        return lambda m: all(p(m) for p in every)

    def unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.nested(self.unary)
            return lambda m: not inner(m)
        return self.primary()

    def nested(self, parse: Callable[[], Predicate]) -> Predicate:
        """A deeper level of `not` or parentheses, within ODataLib's recursion limit."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _bad_filter(f"The recursion depth of the filter exceeds {MAX_DEPTH}.")
        try:
            return parse()
        finally:
            self.depth -= 1

    def primary(self) -> Predicate:
        token = self.peek()
        if token.text == "(":
            self.take()
            inner = self.nested(self.expression)
            self.expect(")", "')' or operator")
            return inner
        if token.kind == "path" and self.tokens[self.position + 1].text == "(":
            return self.function()
        left = self.operand()
        following = self.peek()
        operator = following.text.lower() if following.kind == "path" else ""
        if operator not in _OPERATORS:
            if left.kind == "Edm.Boolean" and left.path:
                return self.bare_boolean(left.path)  # `isRead` alone reads as `isRead eq true`
            if following.kind == "end":
                raise _bad_filter(
                    f"Expression of type '{left.kind}' cannot be used as a filter, at position"
                    f" {following.position} in '{self.raw}'."
                )
            raise _bad_filter(
                f"Syntax error: character '{following.text}' is not valid at position"
                f" {following.position} in '{self.raw}'."
            )
        self.take()
        right = self.operand()
        return _comparison(left, operator, right)

    def bare_boolean(self, path: str) -> Predicate:
        if path not in FILTERABLE:
            raise not_run()
        return lambda m: value_of(m, path) is True

    def operand(self) -> _Operand:
        token = self.take()
        if token.kind == "end" or token.kind == "punct":
            raise _bad_filter(f"Expression expected at position {token.position} in '{self.raw}'.")
        if token.kind == "string":
            return _Operand("Edm.String", value=token.text[1:-1].replace("''", "'"))
        if token.kind == "time":
            return _Operand("Edm.DateTimeOffset", value=_parse_time(token.text, self.raw))
        if token.kind == "number":
            return _Operand("Edm.Int32" if "." not in token.text else "Edm.Double")
        lowered = token.text.lower()
        if lowered in ("true", "false"):
            return _Operand("Edm.Boolean", value=lowered == "true")
        if lowered == "null":
            return _Operand("null")
        return self.property_path(token.text)

    def property_path(self, text: str) -> _Operand:
        segments = text.split("/")
        first = MESSAGE_PROPERTIES.get(segments[0].lower())
        if first is None:
            raise _bad_filter(_no_property(segments[0]))
        names, kind = [first[0]], first[1]
        for segment in segments[1:]:
            members = COMPLEX_MEMBERS.get(kind)
            member = members.get(segment.lower()) if members else None
            if member is None:
                raise _bad_filter(_no_property(segment, kind.replace("graph.", "microsoft.graph.")))
            names.append(member[0])
            kind = member[1]
        path = "/".join(names)
        self.properties.append(path)
        return _Operand(kind, path=path)

    def function(self) -> Predicate:
        name_token = self.take()
        name = name_token.text.lower()
        if name.endswith("/any") or name.endswith("/all"):
            return self.lambda_any(name_token)
        if name not in ODATA_FUNCTIONS:
            raise _bad_filter(
                f"An unknown function with name '{name_token.text}' was found. This may also be a"
                " function import or a key lookup on a navigation property, which is not allowed."
            )
        self.expect("(", "'('")
        arguments = [self.operand()]
        while self.peek().text == ",":
            self.take()
            arguments.append(self.operand())
        self.expect(")", "')' or ','")
        if name not in TEXT_FUNCTIONS:
            raise not_run()
        if len(arguments) != 2:
            raise _bad_filter(
                f"No function signature for the function with name '{name}' matches the"
                " specified arguments."
            )
        subject, prefix = arguments
        if subject.kind != "Edm.String" or prefix.kind != "Edm.String":
            raise _bad_filter(
                f"No function signature for the function with name '{name}' matches the"
                " specified arguments. The function signatures considered are:"
                f" {name}(Edm.String Nullable=true, Edm.String Nullable=true)."
            )
        if subject.path is None or subject.path not in FILTERABLE or prefix.path is not None:
            raise not_run()
        path, text = subject.path, str(prefix.value).lower()
        if name == "startswith":
            return lambda m: str(value_of(m, path) or "").lower().startswith(text)
        return lambda m: text in str(value_of(m, path) or "").lower()

    def lambda_any(self, name_token: Token) -> Predicate:
        """`categories/any(c:c eq 'Red')`: the one lambda Exchange runs on messages."""
        collection, _, quantifier = name_token.text.rpartition("/")
        found = MESSAGE_PROPERTIES.get(collection.lower())
        if found is None:
            raise _bad_filter(_no_property(collection))
        self.expect("(", "'('")
        variable = self.take()
        self.expect(":", "':'")
        if variable.kind != "path" or "/" in variable.text:
            raise _bad_filter(f"Syntax error at position {variable.position} in '{self.raw}'.")
        if found[0] == "singleValueExtendedProperties" and quantifier.lower() == "any":
            return self.extended_property(variable.text)
        name = self.take()
        operator = self.take().text.lower()
        value = self.operand()
        self.expect(")", "')' or operator")
        self.properties.append(found[0])
        if (
            found[0] != "categories"
            or quantifier.lower() != "any"
            or name.text != variable.text
            or operator != "eq"
            or value.kind != "Edm.String"
        ):
            raise not_run()
        wanted = str(value.value).lower()
        return lambda m: any(str(c).lower() == wanted for c in m.get("categories") or [])

    def extended_property(self, variable: str) -> Predicate:
        """`singleValueExtendedProperties/any(ep: ep/id eq '...' and ep/value eq '...')`, the form
        singlevaluelegacyextendedproperty-get.md gives for finding items by a property's value."""
        wanted: dict[str, str] = {}
        while True:
            name = self.take()
            member = name.text.lower().removeprefix(variable.lower() + "/")
            operator = self.take().text.lower()
            value = self.operand()
            if member not in ("id", "value") or operator != "eq" or value.kind != "Edm.String":
                raise not_run()
            wanted[member] = str(value.value)
            if not self.keyword("and"):
                break
        self.expect(")", "')' or operator")
        self.properties.append("singleValueExtendedProperties")
        if "id" not in wanted:
            raise not_run()
        property_id, property_value = wanted["id"].lower(), wanted.get("value")

        def matches(message: dict[str, Any]) -> bool:
            return any(
                str(p.get("id", "")).lower() == property_id
                and (property_value is None or p.get("value") == property_value)
                for p in message.get("singleValueExtendedProperties") or []
            )

        return matches


def _parse_time(text: str, raw: str) -> datetime:
    try:
        if "T" not in text:  # an Edm.Date compared with a time means its midnight, UTC
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise _bad_filter(f"Syntax error at position 0 in '{raw}'.") from None


def _stored_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _incompatible(left: _Operand, right: _Operand, operator: str) -> GraphError:
    kinds = [o.kind.replace("graph.", "microsoft.graph.") for o in (left, right)]
    return _bad_filter(
        "A binary operator with incompatible types was detected. Found operand types"
        f" '{kinds[0]}' and '{kinds[1]}' for operator kind '{_OPERATORS[operator]}'."
    )


def _comparison(left: _Operand, operator: str, right: _Operand) -> Predicate:
    if left.path is None or right.path is not None:
        raise not_run()  # Exchange compares a property with a value, nothing else
    kind, path = left.kind, left.path
    if right.kind == "null":
        raise not_run()
    if kind in ENUMS:
        if right.kind != "Edm.String":
            raise _incompatible(left, right, operator)
        members = {m.lower(): m for m in ENUMS[kind]}
        if str(right.value).lower() not in members:
            raise _bad_filter(
                f"The string '{right.value}' is not a valid enumeration type constant."
            )
        right.value = members[str(right.value).lower()]
    elif kind != right.kind:
        raise _incompatible(left, right, operator)
    if path not in FILTERABLE:
        raise not_run()
    if kind != "Edm.DateTimeOffset" and operator not in ("eq", "ne"):
        raise not_run()
    if kind == "Edm.DateTimeOffset":
        moment: datetime = right.value

        def compare_time(message: dict[str, Any]) -> bool:
            actual = _stored_time(value_of(message, path))
            if actual is None:
                return operator == "ne"
            outcomes = {
                "eq": actual == moment,
                "ne": actual != moment,
                "gt": actual > moment,
                "ge": actual >= moment,
                "lt": actual < moment,
                "le": actual <= moment,
            }
            return outcomes[operator]

        return compare_time
    expected = right.value
    if isinstance(expected, str):
        expected = expected.lower()  # Exchange compares text without regard to case

    def compare(message: dict[str, Any]) -> bool:
        actual = value_of(message, path)
        if isinstance(actual, str):
            actual = actual.lower()
        return bool(actual == expected) == (operator == "eq")

    return compare


def value_of(message: dict[str, Any], path: str) -> Any:
    """The value at a property path (`from/emailAddress/address`) of a message resource."""
    current: Any = message
    for name in path.split("/"):
        if not isinstance(current, dict):
            return None
        current = current.get(name)
    return current


def parse_filter(raw: str) -> Filter:
    """The predicate of a $filter over message resources, and the properties it names in order."""
    if not raw.strip():
        raise _bad_filter(f"Expression expected at position 0 in '{raw}'.")
    parser = _Parser(raw, _tokens(raw))
    predicate = parser.expression()
    trailing = parser.peek()
    if trailing.kind != "end":
        raise _bad_filter(
            f"Syntax error: character '{trailing.text}' is not valid at position"
            f" {trailing.position} in '{raw}'."
        )
    return Filter(predicate, parser.properties)


def _parse_uri_error(name: str) -> GraphError:
    """Graph's URI parser refusing a name in $select or $orderby."""
    return GraphError(400, "RequestBroker--ParseUri", _no_property(name))


def _canonical_path(text: str) -> str:
    segments = text.strip().split("/")
    first = MESSAGE_PROPERTIES.get(segments[0].lower())
    if first is None:
        raise _parse_uri_error(segments[0])
    names, kind = [first[0]], first[1]
    for segment in segments[1:]:
        members = COMPLEX_MEMBERS.get(kind)
        member = members.get(segment.lower()) if members else None
        if member is None:
            raise _parse_uri_error(segment)
        names.append(member[0])
        kind = member[1]
    return "/".join(names)


DEFAULT_ORDER = [("receivedDateTime", True)]


def parse_orderby(raw: str | None) -> list[tuple[str, bool]]:
    """(property path, descending) pairs; without $orderby, newest first."""
    if raw is None or not raw.strip():
        return list(DEFAULT_ORDER)
    order: list[tuple[str, bool]] = []
    for part in raw.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise GraphError(400, "BadRequest", f"Syntax error at position 0 in '{part.strip()}'.")
        path = _canonical_path(words[0])
        direction = words[1].lower() if len(words) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise GraphError(
                400,
                "BadRequest",
                f"Syntax error: character '{words[1]}' is not valid in '{part.strip()}'.",
            )
        if path not in SORTABLE:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                f"The property '{path}' does not support sorting.",
            )
        order.append((path, direction == "desc"))
    return order


def parse_select(raw: str | None) -> list[str] | None:
    """The properties named in $select (canonical spelling, the caller's order), or None."""
    if raw is None or not raw.strip():
        return None
    names: list[str] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        if "/" in part:
            raise GraphError(400, "BadRequest", f"Syntax error at position 0 in '{part.strip()}'.")
        name = _canonical_path(part)
        if name not in names:
            names.append(name)
    return names or None


def check_filter_and_order(filtered: list[str], order: list[tuple[str, bool]]) -> None:
    """Outlook's rule for $filter with $orderby (user-list-messages.md): every $orderby property
    is in $filter, in the same order, before any property that is not."""
    seen = list(dict.fromkeys(filtered))  # a property named twice (a time range) counts once
    wanted = [name for name, _ in order]
    if seen[: len(wanted)] != wanted:
        raise GraphError(
            400,
            "InefficientFilter",
            "The restriction or sort order is too complex for this operation.",
        )


def sort(messages: list[dict[str, Any]], order: list[tuple[str, bool]]) -> list[dict[str, Any]]:
    """`messages` come newest first; equal values keep arrival order in the first key's direction."""
    if order and not order[0][1]:
        messages = list(reversed(messages))
    for path, descending in reversed(order):
        messages.sort(key=lambda m: _sort_value(m, path), reverse=descending)
    return messages


def _sort_value(message: dict[str, Any], path: str) -> Any:
    value = value_of(message, path)
    if path == "importance":
        return _IMPORTANCE_RANK.get(str(value), 1)
    if path in ("isRead", "hasAttachments"):
        return int(value is True)
    if path in TIMES:
        return _stored_time(value) or datetime.min.replace(tzinfo=UTC)
    return str(value or "").lower()
