"""GitHub Actions expressions: literals, contexts, operators, functions, interpolation, `if:`."""

from __future__ import annotations

import math
from typing import Any

import pytest

from runnerhub.expressions import (
    ExpressionError,
    Status,
    condition,
    evaluate,
    interpolate,
    to_string,
    truthy,
    value,
)

CONTEXTS: dict[str, Any] = {
    "github": {
        "ref": "refs/heads/main",
        "event_name": "push",
        "event": {
            "labels": [{"name": "bug"}, {"name": "ui"}, {"color": "red"}],
            "commits": [{"files": ["a", "b"]}, {"files": ["c"]}],
        },
    },
    "matrix": {"os": "linux", "node": 18, "versions": [1, 2], "Mixed-Case": "x"},
    "steps": {"build": {"outputs": {"x": "5", "empty": ""}, "conclusion": "success"}},
    "env": {"NAME": "Mona"},
    "inputs": {"flag": True, "count": 3},
    "needs": {},
}


def ev(expression: str, status: Status | None = None) -> Any:
    return evaluate(expression, CONTEXTS, status)


# Literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("null", None),
        ("true", True),
        ("false", False),
        ("711", 711),
        ("-9.2", -9.2),
        ("0xff", 255),
        ("0xFF", 255),
        ("0o17", 15),
        ("-2.99e-2", -0.0299),
        ("1e3", 1000.0),
        ("'Mona'", "Mona"),
        ("'It''s open source!'", "It's open source!"),
        ("''", ""),
        ("'  spaced  '", "  spaced  "),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
    ],
)
def test_literals(expression: str, expected: Any) -> None:
    assert ev(expression) == expected


def test_nan_literal() -> None:
    assert math.isnan(ev("NaN"))


@pytest.mark.parametrize("expression", ['"double"', "'unterminated", "1abc", "0xZZ", "@", "1 2"])
def test_bad_literals_are_syntax_errors(expression: str) -> None:
    with pytest.raises(ExpressionError, match="Unexpected symbol"):
        ev(expression)


# Contexts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.ref", "refs/heads/main"),
        ("matrix['os']", "linux"),
        ("matrix.node", 18),
        ("steps.build.outputs.x", "5"),
        ("steps.build.outputs['x']", "5"),
        ("GITHUB.REF", "refs/heads/main"),
        ("matrix.mixed-case", "x"),
        ("matrix.versions[1]", 2),
        ("matrix.versions[0.9]", 1),
        ("matrix.versions['1']", 2),
        ("matrix.versions[5]", None),
        ("matrix.versions[-1]", None),
        ("github.nope", None),
        ("github.nope.deeper", None),
        ("github.ref.length", None),
        ("steps.missing.outputs.x", None),
        ("needs.a.result", None),
        ("matrix[matrix.os]", None),
        ("matrix[ 'os' ]", "linux"),
    ],
)
def test_context_access(expression: str, expected: Any) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("github.event.labels.*.name", ["bug", "ui"]),
        ("github.event.labels[*].name", ["bug", "ui"]),
        ("github.event.commits.*.files", [["a", "b"], ["c"]]),
        ("github.event.commits.*.files.*", ["a", "b", "c"]),
        ("github.event.commits.*.files[0]", ["a", "c"]),
        ("matrix.versions.*", [1, 2]),
        ("github.nope.*", []),
        ("steps.*.conclusion", ["success"]),
    ],
)
def test_object_filters(expression: str, expected: Any) -> None:
    result = ev(expression)
    assert result == expected
    assert type(result) is list


def test_unknown_context_is_an_error() -> None:
    with pytest.raises(ExpressionError, match=r"Unrecognized named-value: 'secrets'\. Located"):
        ev("secrets.TOKEN")


def test_unknown_context_is_an_error_even_where_not_evaluated() -> None:
    with pytest.raises(ExpressionError, match="Unrecognized named-value: 'vars'"):
        ev("true || vars.X")


def test_mapping_contexts_are_read_as_objects() -> None:
    assert evaluate("a.b", {"a": {"b": {"c": 1}}}) == {"c": 1}


# Operators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 == 1", True),
        ("1 == 1.0", True),
        ("1 == '1'", True),
        ("'A' == 'a'", True),
        ("'abc' != 'ABC'", False),
        ("null == 0", True),
        ("null == ''", True),
        ("null == null", True),
        ("null == false", True),
        ("true == 1", True),
        ("false == 0", True),
        ("'' == 0", True),
        ("' 0xff ' == 255", True),
        ("' +12.5 ' == 12.5", True),
        ("'1e2' == 100", True),
        ("'abc' == 0", False),
        ("NaN == NaN", False),
        ("NaN != NaN", True),
        ("'true' == true", False),
        ("matrix.versions == matrix.versions", True),
        ("fromJSON('[1]') == fromJSON('[1]')", False),
        ("github.event == 'x'", False),
        ("' Infinity ' == Infinity", True),
        ("'-Infinity' == -Infinity", True),
    ],
)
def test_equality(expression: str, expected: bool) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("2 >= 3", False),
        ("'abc' < 'def'", True),
        ("'ABC' < 'abd'", True),
        ("'b' <= 'B'", True),
        ("'10' < 9", False),
        ("'10' > 9", True),
        ("false < true", True),
        ("null < 1", True),
        ("'abc' < 1", False),
        ("'abc' >= 1", False),
        ("matrix.versions < matrix.versions", False),
        ("matrix.versions <= matrix.versions", False),
        ("-Infinity < 0", True),
    ],
)
def test_comparison(expression: str, expected: bool) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("true && 'yes'", "yes"),
        ("'' && 'yes'", ""),
        ("0 && 'yes'", 0),
        ("null || 'fallback'", "fallback"),
        ("'first' || 'second'", "first"),
        ("'' || 0", 0),
        ("steps.build.outputs.empty || 'default'", "default"),
        ("github.event_name == 'push' && 'deploy' || 'skip'", "deploy"),
        ("github.event_name == 'pr' && 'deploy' || 'skip'", "skip"),
        ("!true", False),
        ("!0", True),
        ("!''", True),
        ("!'x'", False),
        ("!!matrix.versions", True),
        ("!null", True),
    ],
)
def test_logical_operators_answer_an_operand(expression: str, expected: Any) -> None:
    assert ev(expression) == expected
    assert type(ev(expression)) is type(expected)


def test_and_short_circuits_functions() -> None:
    # fromJSON('') would fail; && never evaluates it.
    assert ev("false && fromJSON('')") is False
    assert ev("true || fromJSON('')") is True


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("!2 < 3", True),  # (!2) < 3
        ("!(2 < 3)", False),
        ("1 < 2 == true", True),  # comparison before equality
        ("true || false && false", True),  # && before ||
        ("(true || false) && false", False),
        ("3 > matrix.node", False),  # . before >
        ("matrix['node'] > 2", True),
        ("1 == 1 && 2 == 2", True),
    ],
)
def test_precedence(expression: str, expected: Any) -> None:
    assert ev(expression) is expected


def test_properties_of_grouped_expressions() -> None:
    assert ev("(github).ref") == "refs/heads/main"
    assert ev("(!github).ref") is None
    assert ev("fromJSON('{\"a\": [10, 20]}').a[1]") == 20


@pytest.mark.parametrize(
    "expression",
    ["1 +", "(1", "1)", "matrix.", "matrix[", "matrix['os'", "&& true", "1 = 1", "!", "a b"],
)
def test_bad_syntax(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, {"matrix": {}, "a": {}})


def test_empty_expression_is_an_error() -> None:
    with pytest.raises(ExpressionError, match="expected"):
        ev("   ")


def test_syntax_error_names_the_position() -> None:
    with pytest.raises(ExpressionError, match="position 6 within expression: true ="):
        ev("true =")


# Functions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("contains('Hello world', 'llo')", True),
        ("contains('Hello world', 'LLO')", True),
        ("contains('Hello', 'xyz')", False),
        ("contains(github.event.labels.*.name, 'bug')", True),
        ("contains(github.event.labels.*.name, 'BUG')", True),
        ("contains(github.event.labels.*.name, 'docs')", False),
        ("contains(matrix.versions, '2')", True),
        ("contains(fromJSON('[\"push\", \"pull_request\"]'), github.event_name)", True),
        ("contains(123, 2)", True),
        ("contains(true, 'ru')", True),
        ("contains(null, '')", True),
        ("contains(github.event, 'labels')", False),
        ("contains('abc', matrix.versions)", False),
        ("CONTAINS('abc', 'B')", True),
    ],
)
def test_contains(expression: str, expected: bool) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("startsWith('Hello world', 'he')", True),
        ("startsWith(github.ref, 'refs/heads/')", True),
        ("startsWith(github.ref, 'refs/tags/')", False),
        ("startsWith(12345, 12)", True),
        ("startsWith(matrix.versions, '1')", False),
        ("endsWith('Hello world', 'LD')", True),
        ("endsWith(github.ref, '/main')", True),
        ("endsWith('abc', 'x')", False),
        ("endswith('abc', '')", True),
        ("StartsWith('abc', 'A')", True),
    ],
)
def test_starts_and_ends_with(expression: str, expected: bool) -> None:
    assert ev(expression) is expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat')", "Hello Mona the Octocat"),
        ("format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')", "{Hello Mona the Octocat!}"),
        ("format('{0}{0}', 'ab')", "abab"),
        ("format('{1}-{0}', 1, 2)", "2-1"),
        ("format('no placeholders')", "no placeholders"),
        ("format('{0}|{1}|{2}|{3}', null, true, 1.5, 2.0)", "|true|1.5|2"),
        ("format('{{0}}', 'x')", "{0}"),
        ("format('{{{0}}}', 'x')", "{x}"),
    ],
)
def test_format(expression: str, expected: str) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("format('{0} {1}', 'only one')", "more arguments than were supplied"),
        ("format('{a}', 1)", "format string is invalid"),
        ("format('{', 1)", "format string is invalid"),
        ("format('}', 1)", "format string is invalid"),
        ("format('{0:x}', 1)", "format string is invalid"),
    ],
)
def test_bad_format_strings(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        ev(expression)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("join(github.event.labels.*.name)", "bug,ui"),
        ("join(github.event.labels.*.name, ', ')", "bug, ui"),
        ("join(matrix.versions, '+')", "1+2"),
        ("join('abc', '-')", "abc"),
        ("join(fromJSON('[]'))", ""),
        ("join(fromJSON('[true, null, 1.5]'), ' ')", "true  1.5"),
        ("join(null)", ""),
    ],
)
def test_join(expression: str, expected: str) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("toJSON(matrix.versions)", "[\n  1,\n  2\n]"),
        ("toJSON('a\"b')", '"a\\"b"'),
        ("toJSON(null)", "null"),
        ("toJSON(true)", "true"),
        ("toJSON(2.0)", "2"),
        ("toJSON(fromJSON('{\"a\": 1}'))", '{\n  "a": 1\n}'),
        ("toJSON(github.event.labels.*.name)", '[\n  "bug",\n  "ui"\n]'),
    ],
)
def test_to_json(expression: str, expected: str) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("fromJSON('true')", True),
        ("fromJSON('42')", 42),
        ("fromJSON('1.5')", 1.5),
        ("fromJSON('null')", None),
        ("fromJSON('\"s\"')", "s"),
        ("fromJSON('[1, \"a\"]')", [1, "a"]),
        ("fromJSON('{\"include\": [{\"os\": \"linux\"}]}').include[0].os", "linux"),
        ("fromJSON(steps.build.outputs.x) > 4", True),
        ("fromJSON(toJSON(matrix.versions))", [1, 2]),
    ],
)
def test_from_json(expression: str, expected: Any) -> None:
    assert ev(expression) == expected


@pytest.mark.parametrize("argument", ["''", "'{'", "'nope'", "'[1,]'"])
def test_from_json_refuses_bad_json(argument: str) -> None:
    with pytest.raises(ExpressionError):
        ev(f"fromJSON({argument})")


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("hashFiles('**/x')", "Unrecognized function: 'hashFiles'"),
        ("nope()", "Unrecognized function: 'nope'"),
        ("contains('a')", "Too few parameters supplied: 'contains'"),
        ("startsWith('a', 'b', 'c')", "Too many parameters supplied: 'startsWith'"),
        ("toJSON()", "Too few parameters"),
        ("format()", "Too few parameters"),
        ("join(1, 2, 3)", "Too many parameters"),
        ("success(1)", "Too many parameters"),
        ("false && nope()", "Unrecognized function"),
    ],
)
def test_function_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        ev(expression, Status.SUCCESS)


# Status functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "success", "failure", "cancelled"),
    [
        (Status.SUCCESS, True, False, False),
        (Status.FAILURE, False, True, False),
        (Status.CANCELLED, False, False, True),
    ],
)
def test_status_functions(status: Status, success: bool, failure: bool, cancelled: bool) -> None:
    assert ev("success()", status) is success
    assert ev("failure()", status) is failure
    assert ev("cancelled()", status) is cancelled
    assert ev("always()", status) is True
    assert ev("ALWAYS()", status) is True


def test_status_functions_need_a_status() -> None:
    with pytest.raises(ExpressionError, match=r"success\(\) is only available in `if:`"):
        ev("success()")


# Interpolation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain text", "plain text"),
        ("", ""),
        ("${{ github.ref }}", "refs/heads/main"),
        ("os=${{ matrix.os }}, node=${{ matrix.node }}", "os=linux, node=18"),
        ("${{null}}|${{ true }}|${{ false }}", "|true|false"),
        ("${{ 1.0 }} ${{ 2.5 }} ${{ 0xff }} ${{ 1e3 }}", "1 2.5 255 1000"),
        ("${{ 1e20 }}", "1E+20"),
        ("${{ 0.1 }}", "0.1"),
        ("${{ NaN }} ${{ Infinity }} ${{ -Infinity }}", "NaN Infinity -Infinity"),
        ("${{ matrix.versions }}", "[\n  1,\n  2\n]"),
        ("${{ fromJSON('{}') }}", "{}"),
        ("${{ '}}' }}", "}}"),
        ("${{ 'a''b' }}", "a'b"),
        ("a ${{ 'x' }} b ${{ 'y' }} c", "a x b y c"),
        ("$ {{ not an expression }}", "$ {{ not an expression }}"),
        ("${{ steps.missing.outputs.x }}", ""),
        ("Hi ${{ env.NAME }}!", "Hi Mona!"),
        ("${{ inputs.flag }} ${{ inputs.count }}", "true 3"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, CONTEXTS) == expected


def test_interpolate_refuses_an_unclosed_expression() -> None:
    with pytest.raises(ExpressionError, match="not closed"):
        interpolate("echo ${{ github.ref", CONTEXTS)


def test_interpolate_reports_errors_inside_expressions() -> None:
    with pytest.raises(ExpressionError, match="Unrecognized named-value: 'secret'"):
        interpolate("x ${{ secret.X }}", CONTEXTS)


def test_interpolate_passes_the_status() -> None:
    assert interpolate("${{ failure() }}", CONTEXTS, Status.FAILURE) == "true"


# Strings and truthiness ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (3.0, "3"),
        (-0.5, "-0.5"),
        (123456789012.0, "123456789012"),
        (1 / 3, "0.333333333333333"),
        ("text", "text"),
        ([], "[]"),
        ({"a": [1.0]}, '{\n  "a": [\n    1\n  ]\n}'),
    ],
)
def test_to_string(raw: Any, expected: str) -> None:
    assert to_string(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, False),
        (False, False),
        (0, False),
        (-0.0, False),
        (math.nan, False),
        ("", False),
        (True, True),
        (1, True),
        (-1.5, True),
        ("false", True),
        ("0", True),
        ([], True),
        ({}, True),
        (math.inf, True),
    ],
)
def test_truthy(raw: Any, expected: bool) -> None:
    assert truthy(raw) is expected


# Conditions (`if:`) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "status", "expected"),
    [
        (None, Status.SUCCESS, True),
        (None, Status.FAILURE, False),
        (None, Status.CANCELLED, False),
        ("", Status.SUCCESS, True),
        ("", Status.FAILURE, False),
        ("github.ref == 'refs/heads/main'", Status.SUCCESS, True),
        ("github.ref == 'refs/heads/main'", Status.FAILURE, False),  # implicit success() &&
        ("${{ github.ref == 'refs/heads/main' }}", Status.SUCCESS, True),
        ("${{ github.ref == 'refs/heads/dev' }}", Status.SUCCESS, False),
        ("always()", Status.FAILURE, True),
        ("always()", Status.CANCELLED, True),
        ("${{ always() }}", Status.CANCELLED, True),
        ("failure()", Status.FAILURE, True),
        ("failure()", Status.SUCCESS, False),
        ("cancelled()", Status.CANCELLED, True),
        ("success() || failure()", Status.FAILURE, True),
        ("failure() && github.event_name == 'push'", Status.FAILURE, True),
        ("!cancelled()", Status.FAILURE, True),
        ("!cancelled()", Status.CANCELLED, False),
        (True, Status.SUCCESS, True),
        (True, Status.FAILURE, False),
        (False, Status.SUCCESS, False),
        ("steps.build.outputs.empty", Status.SUCCESS, False),
        ("steps.build.outputs.x", Status.SUCCESS, True),
        ("matrix.versions", Status.SUCCESS, True),
        ("0", Status.SUCCESS, False),
        ("NaN", Status.SUCCESS, False),
        ("null", Status.SUCCESS, False),
        ("'false'", Status.SUCCESS, True),
        ("  ${{ false }}  ", Status.SUCCESS, False),
        ("${{ }}", Status.SUCCESS, True),
    ],
)
def test_condition(text: str | bool | None, status: Status, expected: bool) -> None:
    assert condition(text, CONTEXTS, status) is expected


def test_condition_with_text_around_the_expression_is_a_truthy_string() -> None:
    # GitHub's pitfall: `if: ${{ false }} && x` is the string "false && x", which is truthy.
    assert condition("${{ false }} == true", CONTEXTS, Status.SUCCESS) is True
    assert condition("${{ false }} == true", CONTEXTS, Status.FAILURE) is False
    assert condition("${{ always() }} x", CONTEXTS, Status.FAILURE) is True


def test_condition_reports_bad_expressions() -> None:
    with pytest.raises(ExpressionError):
        condition("github.ref ==", CONTEXTS, Status.SUCCESS)


# Values (whole mappings and lists) -------------------------------------------------------


def test_value_of_a_single_expression_keeps_its_type() -> None:
    assert value("${{ matrix.versions }}", CONTEXTS) == [1, 2]
    assert value("${{ matrix.node }}", CONTEXTS) == 18
    assert value("${{ inputs.flag }}", CONTEXTS) is True
    assert value("${{ null }}", CONTEXTS) is None
    assert value("${{ github.event.labels.*.name }}", CONTEXTS) == ["bug", "ui"]


def test_value_interpolates_mixed_strings() -> None:
    assert value("node-${{ matrix.node }}", CONTEXTS) == "node-18"
    assert value("${{ matrix.os }}-${{ matrix.node }}", CONTEXTS) == "linux-18"


def test_value_walks_lists_and_mappings() -> None:
    raw = {
        "runs-on": "${{ matrix.os }}",
        "labels": ["self-hosted", "${{ matrix.os }}"],
        "env": {"A": "x${{ matrix.node }}", "B": 1, "C": None},
        "nested": [{"deep": "${{ fromJSON('[3]') }}"}],
    }
    assert value(raw, CONTEXTS) == {
        "runs-on": "linux",
        "labels": ["self-hosted", "linux"],
        "env": {"A": "x18", "B": 1, "C": None},
        "nested": [{"deep": [3]}],
    }


def test_value_leaves_plain_values_alone() -> None:
    assert value("plain", CONTEXTS) == "plain"
    assert value(5, CONTEXTS) == 5
    assert value(None, CONTEXTS) is None
    assert value(("a", "${{ 1 }}"), CONTEXTS) == ["a", 1]


def test_value_passes_the_status() -> None:
    assert value({"x": "${{ cancelled() }}"}, CONTEXTS, Status.CANCELLED) == {"x": True}


def test_value_reports_errors() -> None:
    with pytest.raises(ExpressionError):
        value(["${{ nope.x }}"], CONTEXTS)
