"""GitHub Actions expressions: `${{ ... }}` in workflow files, evaluated as GitHub does.

Standard library only: the runner agent imports this module as well as the server.

Supported:
- literals `null`, `true`, `false`, `NaN`, `Infinity`, numbers (`711`, `-9.2`, `0xff`, `0o17`,
  `-2.99e-2`) and `'strings'` (`''` is an escaped quote; double quotes are an error);
- contexts: `github.ref`, `matrix['os']`, `steps.build.outputs.x`; property names are looked up
  case-insensitively, as GitHub's contexts are, and a missing property is null; object filters
  `labels.*.name` give a list;
- operators `( ) [ ] . ! < <= > >= == != && ||` with GitHub's precedence and coercions: values
  of different types compare as numbers (null 0, booleans 0/1, strings parsed, else NaN),
  strings compare case-insensitively, arrays and objects are equal only to themselves, and
  `&&`/`||` answer one of their operands;
- functions (names case-insensitive) contains, startsWith, endsWith, format, join, toJSON,
  fromJSON, and the status functions success, failure, always, cancelled.

Deliberately not supported: hashFiles (it reads the workspace, which only a runner has), and
the `case()` function; both raise ExpressionError like any unknown function. As on GitHub, the
whole expression is checked (functions, argument counts, context names) before any of it is
evaluated, so a mistake in a short-circuited branch is still reported.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ExpressionError",
    "Status",
    "condition",
    "evaluate",
    "interpolate",
    "to_string",
    "truthy",
    "value",
]


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says where and why."""


class Status(enum.Enum):
    """How the work before this step or job went, as the status functions see it."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class _Scope:
    contexts: Mapping[str, Any]
    status: Status | None


_Node = Callable[[_Scope], Any]


class _Filtered(list[Any]):
    """The result of a `*` filter: further `.name` and `[i]` apply to every element."""


_MISSING = object()

# ---------------------------------------------------------------------------------------------
# Values: kinds, coercions and string forms.


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array"


_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _to_number(value: Any) -> float:
    kind = _kind(value)
    if kind in ("null", "boolean", "number"):
        return float(value or 0)
    if kind != "string":
        return math.nan
    return _parse_number(value.strip())


def _parse_number(text: str) -> float:
    if text == "":
        return 0.0
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.removeprefix("+"))
    prefix = body[:2].lower()
    if prefix in ("0x", "0o"):
        digits = "[0-9a-fA-F]+" if prefix == "0x" else "[0-7]+"
        if not re.fullmatch(digits, body[2:]):
            return math.nan
        return sign * int(body[2:], 16 if prefix == "0x" else 8)
    if body == "Infinity":
        return sign * math.inf
    return float(text) if _DECIMAL.fullmatch(text) else math.nan


def truthy(value: Any) -> bool:
    """GitHub's truthiness: null, false, 0, -0, NaN and '' are false; all else is true."""
    kind = _kind(value)
    if kind == "number":
        return not (value == 0 or math.isnan(value))
    if kind in ("array", "object"):
        return True
    return bool(value)


def _format_number(number: float) -> str:
    if isinstance(number, int):
        return str(number)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    # GitHub formats numbers with 15 significant digits (.NET's "G15").
    return format(number, ".15G")


def _jsonable(value: Any) -> Any:
    kind = _kind(value)
    if kind == "number" and not isinstance(value, bool):
        return value if isinstance(value, int) or not value.is_integer() else int(value)
    if kind == "object":
        return {str(key): _jsonable(item) for key, item in value.items()}
    if kind == "array":
        return [_jsonable(item) for item in value]
    return value


def _to_json(value: Any) -> str:
    return json.dumps(_jsonable(value), indent=2, ensure_ascii=False)


def to_string(value: Any) -> str:
    """A value as GitHub writes it into text: null is '', booleans 'true'/'false', integral
    numbers without '.0', arrays and objects as JSON (what toJSON gives)."""
    kind = _kind(value)
    if kind == "null":
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "number":
        return _format_number(value)
    if kind == "string":
        return str(value)
    return _to_json(value)


def _get(target: Any, key: Any) -> Any:
    """`target[key]`, or _MISSING: property names fold case, array indexes are numbers."""
    kind = _kind(target)
    if kind == "object":
        name = to_string(key)
        if name in target:
            return target[name]
        folded = name.casefold()
        return next((v for k, v in target.items() if str(k).casefold() == folded), _MISSING)
    if kind == "array" and _kind(key) not in ("array", "object"):
        index = _to_number(key)
        if not math.isnan(index) and 0 <= index < len(target):
            return target[int(index)]
    return _MISSING


def _lookup(target: Any, key: Any) -> Any:
    """`target[key]` with GitHub's leniency: anything missing or ill-typed is null."""
    found = _get(target, key)
    return None if found is _MISSING else found


def _equal(left: Any, right: Any) -> bool:
    kind = _kind(left)
    if kind != _kind(right):
        return _to_number(left) == _to_number(right)
    if kind == "string":
        return bool(left.upper() == right.upper())
    if kind in ("array", "object"):
        return left is right
    return bool(left == right)


def _less(left: Any, right: Any, or_equal: bool) -> bool:
    kind = _kind(left)
    if kind == _kind(right) and kind in ("array", "object"):
        return False
    if kind == _kind(right) == "string":
        a, b = left.upper(), right.upper()
    else:
        a, b = _to_number(left), _to_number(right)
    return bool(a <= b if or_equal else a < b)


# ---------------------------------------------------------------------------------------------
# Functions.


def _contains(search: Any, item: Any) -> bool:
    kind = _kind(search)
    if kind == "array":
        return any(_equal(element, item) for element in search)
    if kind == "object" or _kind(item) in ("array", "object"):
        return False
    return to_string(item).upper() in to_string(search).upper()


def _affix(check: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def compare(text: Any, affix: Any) -> bool:
        if {_kind(text), _kind(affix)} & {"array", "object"}:
            return False
        return check(to_string(text).upper(), to_string(affix).upper())

    return compare


_FORMAT_PART = re.compile(r"\{\{|\}\}|\{(\d+)\}|[{}]")


def _format(template: Any, *args: Any) -> str:
    text = to_string(template)

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        if match.group(1) is None:
            raise ExpressionError(f"The following format string is invalid: {text}")
        index = int(match.group(1))
        if index >= len(args):
            raise ExpressionError(
                f"The following format string references more arguments than were supplied: "
                f"{text}"
            )
        return to_string(args[index])

    return _FORMAT_PART.sub(replace, text)


def _join(items: Any, separator: Any = ",") -> str:
    if _kind(items) != "array":
        return to_string(items)
    return to_string(separator).join(to_string(item) for item in items)


def _from_json(text: Any) -> Any:
    source = to_string(text)
    if source.strip() == "":
        raise ExpressionError("Error reading JToken from JsonReader. Path '', line 0, position 0.")
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        raise ExpressionError(f"fromJSON: invalid JSON ({error.msg} at {error.pos})") from None


def _status_function(wanted: Status | None) -> Callable[[Status], bool]:
    return lambda status: wanted is None or status is wanted


@dataclass(frozen=True)
class _Function:
    name: str
    least: int
    most: int
    call: Callable[..., Any]
    reads_status: bool = False


_FUNCTIONS = {
    f.name.lower(): f
    for f in (
        _Function("contains", 2, 2, _contains),
        _Function("startsWith", 2, 2, _affix(str.startswith)),
        _Function("endsWith", 2, 2, _affix(str.endswith)),
        _Function("format", 1, 255, _format),
        _Function("join", 1, 2, _join),
        _Function("toJSON", 1, 1, _to_json),
        _Function("fromJSON", 1, 1, _from_json),
        _Function("success", 0, 0, _status_function(Status.SUCCESS), reads_status=True),
        _Function("failure", 0, 0, _status_function(Status.FAILURE), reads_status=True),
        _Function("cancelled", 0, 0, _status_function(Status.CANCELLED), reads_status=True),
        _Function("always", 0, 0, _status_function(None), reads_status=True),
    )
}

# ---------------------------------------------------------------------------------------------
# Lexing.


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "string", "name", "keyword", "property", or the punctuation itself
    text: str
    position: int  # 1-based, as in GitHub's messages
    value: Any = None


_PUNCTUATION = ("<=", ">=", "==", "!=", "&&", "||", "(", ")", "[", "]", ".", ",", "!", "<", ">")
_NUMBER = re.compile(r"-?(?:0x[0-9a-fA-F]+|0o[0-7]+|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PROPERTY = re.compile(r"[A-Za-z0-9_-]+")
_KEYWORDS: dict[str, Any] = {
    "true": True, "false": False, "null": None, "NaN": math.nan, "Infinity": math.inf,
}


def _number_value(text: str) -> int | float:
    body = text.lstrip("-")
    sign = -1 if text.startswith("-") else 1
    if body[:2] in ("0x", "0o"):
        return sign * int(body[2:], 16 if body[1] == "x" else 8)
    if body == "Infinity":
        return sign * math.inf
    return sign * (float(body) if re.search(r"[.eE]", body) else int(body))


class _Lexer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.at = 0
        self.tokens: list[_Token] = []

    def run(self) -> list[_Token]:
        while True:
            while self.at < len(self.source) and self.source[self.at].isspace():
                self.at += 1
            if self.at >= len(self.source):
                return self.tokens
            self.tokens.append(self._next())

    def unexpected(self, text: str) -> ExpressionError:
        return _unexpected(text, self.at + 1, self.source)

    def _next(self) -> _Token:
        start, rest = self.at, self.source[self.at :]
        after_dot = bool(self.tokens) and self.tokens[-1].kind == "."
        if after_dot and (match := _PROPERTY.match(rest)):
            return self._take("property", match.group(0), start)
        if rest[0] == "'":
            return self._string(start)
        if rest[0] == "*":
            return self._take("*", "*", start)
        if (match := _NUMBER.match(rest)) and not _NAME.match(rest[match.end() :]):
            text = match.group(0)
            if text != "Infinity":
                return self._take("number", text, start, _number_value(text))
        if match := _NAME.match(rest):
            name = match.group(0)
            return self._take("keyword" if name in _KEYWORDS else "name", name, start)
        for punctuation in _PUNCTUATION:
            if rest.startswith(punctuation):
                return self._take(punctuation, punctuation, start)
        raise self.unexpected(re.split(r"\s", rest, maxsplit=1)[0])

    def _take(self, kind: str, text: str, start: int, value: Any = None) -> _Token:
        self.at = start + len(text)
        if kind == "keyword":
            value = _KEYWORDS[text]
        return _Token(kind, text, start + 1, value)

    def _string(self, start: int) -> _Token:
        match = re.compile(r"'((?:[^']|'')*)'").match(self.source, start)
        if match is None:
            raise self.unexpected(self.source[start:])
        self.at = match.end()
        return _Token("string", match.group(0), start + 1, match.group(1).replace("''", "'"))


def _unexpected(text: str, position: int, source: str) -> ExpressionError:
    return ExpressionError(
        f"Unexpected symbol: '{text}'. Located at position {position} within expression: {source}"
    )


# ---------------------------------------------------------------------------------------------
# Parsing: each rule returns a closure that evaluates its part of the expression.

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": lambda a, b: _less(a, b, or_equal=False),
    "<=": lambda a, b: _less(a, b, or_equal=True),
    ">": lambda a, b: _less(b, a, or_equal=False),
    ">=": lambda a, b: _less(b, a, or_equal=True),
}


@dataclass(frozen=True)
class _Parsed:
    run: _Node
    reads_status: bool


class _Parser:
    def __init__(self, source: str, context_names: set[str]) -> None:
        self.source = source
        self.tokens = _Lexer(source).run()
        self.at = 0
        self.context_names = context_names
        self.reads_status = False

    def parse(self) -> _Parsed:
        if not self.tokens:
            raise ExpressionError("An expression was expected")
        node = self._or()
        if self.at < len(self.tokens):
            raise self._unexpected(self.tokens[self.at])
        return _Parsed(node, self.reads_status)

    def _peek(self, *kinds: str) -> _Token | None:
        token = self.tokens[self.at] if self.at < len(self.tokens) else None
        return token if token is not None and token.kind in kinds else None

    def _expect(self, kind: str) -> _Token:
        token = self._peek(kind)
        if token is None:
            raise self._unexpected(self.tokens[self.at] if self.at < len(self.tokens) else None)
        self.at += 1
        return token

    def _unexpected(self, token: _Token | None) -> ExpressionError:
        if token is None:
            return ExpressionError(f"Unexpected end of expression: {self.source}")
        return _unexpected(token.text, token.position, self.source)

    def _or(self) -> _Node:
        left = self._and()
        while self._peek("||"):
            self.at += 1
            left = _either(left, self._and())
        return left

    def _and(self) -> _Node:
        left = self._comparison(("==", "!="), self._relation)
        while self._peek("&&"):
            self.at += 1
            left = _both(left, self._comparison(("==", "!="), self._relation))
        return left

    def _relation(self) -> _Node:
        return self._comparison(("<", "<=", ">", ">="), self._unary)

    def _comparison(self, operators: tuple[str, ...], operand: Callable[[], _Node]) -> _Node:
        left = operand()
        while token := self._peek(*operators):
            self.at += 1
            left = _compare(_COMPARISONS[token.kind], left, operand())
        return left

    def _unary(self) -> _Node:
        if self._peek("!"):
            self.at += 1
            operand = self._unary()
            return lambda scope: not truthy(operand(scope))
        return self._postfix(self._primary())

    def _postfix(self, node: _Node) -> _Node:
        while token := self._peek(".", "["):
            self.at += 1
            if token.kind == ".":
                name = self._expect("*" if self._peek("*") else "property")
                node = _star(node) if name.kind == "*" else _member(node, _constant(name.text))
            elif self._peek("*"):
                self.at += 1
                self._expect("]")
                node = _star(node)
            else:
                index = self._or()
                self._expect("]")
                node = _member(node, index)
        return node

    def _primary(self) -> _Node:
        token = self._peek("number", "string", "keyword", "name", "(")
        if token is None:
            raise self._unexpected(self.tokens[self.at] if self.at < len(self.tokens) else None)
        self.at += 1
        if token.kind == "(":
            node = self._or()
            self._expect(")")
            return node
        if token.kind == "name":
            return self._call(token) if self._peek("(") else self._context(token)
        return _constant(token.value)

    def _context(self, token: _Token) -> _Node:
        name = token.text.lower()
        if name not in self.context_names:
            raise ExpressionError(
                f"Unrecognized named-value: '{token.text}'. Located at position "
                f"{token.position} within expression: {self.source}"
            )
        return lambda scope: _lookup(scope.contexts, name)

    def _call(self, token: _Token) -> _Node:
        function = _FUNCTIONS.get(token.text.lower())
        if function is None:
            raise ExpressionError(
                f"Unrecognized function: '{token.text}'. Located at position {token.position} "
                f"within expression: {self.source}"
            )
        args = self._arguments()
        if not function.least <= len(args) <= function.most:
            raise ExpressionError(
                f"{'Too few' if len(args) < function.least else 'Too many'} parameters supplied: "
                f"'{token.text}'. Located at position {token.position} within expression: "
                f"{self.source}"
            )
        self.reads_status = self.reads_status or function.reads_status
        return _status_call(function) if function.reads_status else _call(function, args)

    def _arguments(self) -> list[_Node]:
        self._expect("(")
        args: list[_Node] = []
        while not self._peek(")"):
            if args:
                self._expect(",")
            args.append(self._or())
        self._expect(")")
        return args


def _constant(constant: Any) -> _Node:
    return lambda scope: constant


def _either(left: _Node, right: _Node) -> _Node:
    def run(scope: _Scope) -> Any:
        first = left(scope)
        return first if truthy(first) else right(scope)

    return run


def _both(left: _Node, right: _Node) -> _Node:
    def run(scope: _Scope) -> Any:
        first = left(scope)
        return right(scope) if truthy(first) else first

    return run


def _compare(compare: Callable[[Any, Any], bool], left: _Node, right: _Node) -> _Node:
    return lambda scope: compare(left(scope), right(scope))


def _member(target: _Node, key: _Node) -> _Node:
    def run(scope: _Scope) -> Any:
        container, name = target(scope), key(scope)
        if isinstance(container, _Filtered):
            found = (_get(item, name) for item in container)
            return _Filtered(item for item in found if item is not _MISSING)
        return _lookup(container, name)

    return run


def _star(target: _Node) -> _Node:
    def children(value: Any) -> list[Any]:
        kind = _kind(value)
        return list(value.values()) if kind == "object" else list(value) if kind == "array" else []

    def run(scope: _Scope) -> Any:
        container = target(scope)
        if isinstance(container, _Filtered):
            return _Filtered(child for item in container for child in children(item))
        return _Filtered(children(container))

    return run


def _call(function: _Function, args: Sequence[_Node]) -> _Node:
    return lambda scope: function.call(*(arg(scope) for arg in args))


def _status_call(function: _Function) -> _Node:
    def run(scope: _Scope) -> Any:
        if scope.status is None:
            raise ExpressionError(f"{function.name}() is only available in `if:` conditions")
        return function.call(scope.status)

    return run


def _parse(expression: str, contexts: Mapping[str, Any]) -> _Parsed:
    return _Parser(expression, {str(name).lower() for name in contexts}).parse()


def _plain(result: Any) -> Any:
    return list(result) if isinstance(result, _Filtered) else result


# ---------------------------------------------------------------------------------------------
# The public surface.


def evaluate(expression: str, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """The value of a bare expression (no `${{ }}`). Status functions need `status`."""
    parsed = _parse(expression, contexts)
    return _plain(parsed.run(_Scope(contexts, status)))


_OPEN = "${{"


def _segments(text: str) -> list[str | tuple[str]]:
    """`text` split into literal strings and `(expression,)` sources. The closing `}}` is the
    first one outside a quoted string, so `${{ '}}' }}` is one expression."""
    parts: list[str | tuple[str]] = []
    rest = text
    while (start := rest.find(_OPEN)) >= 0:
        end = _closing(rest, start + len(_OPEN))
        if start:
            parts.append(rest[:start])
        parts.append((rest[start + len(_OPEN) : end].strip(),))
        rest = rest[end + 2 :]
    if rest or not parts:
        parts.append(rest)
    return parts


def _closing(text: str, at: int) -> int:
    quoted = False
    while at < len(text):
        if text[at] == "'":
            quoted = not quoted
        elif not quoted and text.startswith("}}", at):
            return at
        at += 1
    raise ExpressionError(
        "The expression is not closed. An unescaped ${{ sequence was found, but the closing }} "
        f"sequence was not found: {text}"
    )


def _render(
    parts: list[str | tuple[str]], contexts: Mapping[str, Any], status: Status | None
) -> str:
    parsed = [_parse(part[0], contexts) if isinstance(part, tuple) else part for part in parts]
    scope = _Scope(contexts, status)
    return "".join(
        part if isinstance(part, str) else to_string(_plain(part.run(scope))) for part in parsed
    )


def interpolate(text: str, contexts: Mapping[str, Any], status: Status | None = None) -> str:
    """`text` with every `${{ expr }}` replaced by its value written as a string."""
    return _render(_segments(text), contexts, status)


def _single(text: str) -> str | None:
    parts = _segments(text)
    return parts[0][0] if len(parts) == 1 and isinstance(parts[0], tuple) else None


def condition(text: str | bool | None, contexts: Mapping[str, Any], status: Status) -> bool:
    """Whether an `if:` holds. Bare or wrapped in `${{ }}`; absent or empty means success();
    without a status function the condition is `success() && (condition)`, as on GitHub.
    Text around a `${{ }}` makes the whole a (truthy) string, GitHub's well-known pitfall."""
    if isinstance(text, bool):
        text = "true" if text else "false"
    source = (text or "").strip() or "success()"
    if _OPEN not in source:
        return _holds(_parse(source, contexts), contexts, status)
    if (inner := _single(source)) is not None:
        return _holds(_parse(inner or "success()", contexts), contexts, status)
    parts = _segments(source)
    reads_status = any(
        _parse(part[0], contexts).reads_status for part in parts if isinstance(part, tuple)
    )
    result = truthy(_render(parts, contexts, status))
    return result if reads_status else status is Status.SUCCESS and result


def _holds(parsed: _Parsed, contexts: Mapping[str, Any], status: Status) -> bool:
    if not parsed.reads_status and status is not Status.SUCCESS:
        return False
    return truthy(parsed.run(_Scope(contexts, status)))


def value(obj: Any, contexts: Mapping[str, Any], status: Status | None = None) -> Any:
    """`obj` with expressions resolved through lists and dicts. A string that is exactly one
    `${{ expr }}` becomes the expression's value, unconverted (so `runs-on: ${{ matrix.os }}`
    may give a list); other strings are interpolated."""
    if isinstance(obj, str):
        if (inner := _single(obj)) is not None:
            return evaluate(inner, contexts, status)
        return interpolate(obj, contexts, status) if _OPEN in obj else obj
    if isinstance(obj, Mapping):
        return {key: value(item, contexts, status) for key, item in obj.items()}
    if isinstance(obj, list | tuple):
        return [value(item, contexts, status) for item in obj]
    return obj
