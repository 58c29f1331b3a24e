"""Workflow files: parsing, GitHub-style refusals, matrices, branch filters, dispatch inputs."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from runnerhub.domain.workflow_file import (
    DEFAULT_TIMEOUT_MINUTES,
    DefaultsRun,
    Input,
    PushFilter,
    Workflow,
    WorkflowError,
    branch_matches,
    check_inputs,
    expand_matrix,
    parse,
    refuse_uses,
)

PATH = ".github/workflows/ci.yml"


def load(text: str) -> Workflow:
    return parse(textwrap.dedent(text), PATH)


def refusal(text: str) -> str:
    with pytest.raises(WorkflowError) as caught:
        load(text)
    assert caught.value.status == 422
    return caught.value.message


def job_yaml(body: str) -> str:
    """A workflow with one job `build`, whose body (indented 4) is given."""
    return "on: push\njobs:\n  build:\n" + textwrap.indent(textwrap.dedent(body), "    ")


def single_job(body: str) -> Any:
    return parse(job_yaml(body), PATH).jobs["build"]


MINIMAL = """
on: push
jobs:
  build:
    runs-on: self-hosted
    steps:
      - run: echo hi
"""

# The document ------------------------------------------------------------------------------


def test_minimal_workflow() -> None:
    workflow = load(MINIMAL)
    assert workflow.name == PATH
    assert workflow.path == PATH
    assert workflow.env == {}
    assert workflow.defaults_run == DefaultsRun()
    job = workflow.jobs["build"]
    assert job.key == "build"
    assert job.name == "build"
    assert job.runs_on == ["self-hosted"]
    assert job.runs_on_group is None
    assert job.needs == ()
    assert job.if_ is None
    assert job.matrix is None
    assert job.fail_fast is True
    assert job.max_parallel is None
    assert job.timeout_minutes == DEFAULT_TIMEOUT_MINUTES == 360
    assert job.continue_on_error is False
    assert job.outputs == {}
    (step,) = job.steps
    assert step.number == 1
    assert step.run == "echo hi"
    assert step.uses is None
    assert step.shell is None
    assert step.continue_on_error is False
    assert step.timeout_minutes is None


def test_workflow_name_env_and_defaults() -> None:
    workflow = load(
        """
        name: CI
        on: push
        env:
          A: one
          N: 1
          F: 1.5
          B: true
          Z:
        defaults:
          run:
            shell: bash
            working-directory: src
        jobs:
          build:
            runs-on: x
            steps: [{run: make}]
        """
    )
    assert workflow.name == "CI"
    assert workflow.env == {"A": "one", "N": "1", "F": "1.5", "B": "true", "Z": ""}
    assert workflow.defaults_run == DefaultsRun("bash", "src")


def test_yaml_1_1_booleans_stay_strings() -> None:
    workflow = load(
        """
        on: push
        env:
          ANSWER: yes
          SWITCH: off
        jobs:
          build:
            runs-on: x
            steps: [{run: make}]
        """
    )
    assert workflow.env == {"ANSWER": "yes", "SWITCH": "off"}
    assert workflow.triggers.events == ("push",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the workflow file is empty"),
        ("- a\n- b\n", "A workflow must be a mapping"),
        ("jobs: {}\n", "#L1: No event triggers defined in `on`"),
        ("name: x\non: push\n", "No jobs defined in `jobs`"),
        ("on: push\njobs: {}\n", "#L2: No jobs defined in `jobs`"),
        ("on: push\njobs: []\n", "jobs must be a mapping"),
        ("on: []\njobs: {a: {}}\n", "No event triggers defined in `on`"),
        ("on: pushh\njobs: {}\n", "#L1: Unexpected value 'pushh'"),
        ("on: push\nwhatever: 1\njobs: {}\n", "#L2: Unexpected value 'whatever'"),
    ],
)
def test_document_refusals(text: str, message: str) -> None:
    assert message in refusal(text)


def test_refusal_names_the_file() -> None:
    assert refusal("jobs: {}\n").startswith(f"Invalid workflow file: {PATH}#L1: ")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("on: [push\njobs: {}\n", 2),
        ("on: push\njobs:\n  a: [\n", 4),
        ("on: push\n  bad: indent\n", 2),
        ("on: push\njobs:\n\tbuild: {}\n", 3),
    ],
)
def test_bad_yaml_gives_the_line(text: str, line: int) -> None:
    assert f"{PATH}#L{line}: " in refusal(text)


def test_duplicate_keys_are_refused() -> None:
    message = refusal("on: push\njobs:\n  a: {}\n  a: {}\n")
    assert message == f"Invalid workflow file: {PATH}#L4: 'a' is already defined"


# Triggers ------------------------------------------------------------------------------


def triggers_of(on: str) -> Any:
    return load(f"on: {on}\njobs:\n  b:\n    runs-on: x\n    steps: [{{run: x}}]\n").triggers


def test_on_as_a_string() -> None:
    triggers = triggers_of("push")
    assert triggers.push == PushFilter()
    assert triggers.dispatch is None
    assert triggers.events == ("push",)


def test_on_as_a_list() -> None:
    triggers = triggers_of("[push, workflow_dispatch, pull_request]")
    assert triggers.push == PushFilter()
    assert triggers.dispatch == {}
    assert triggers.events == ("push", "workflow_dispatch", "pull_request")


def test_on_without_push_or_dispatch() -> None:
    triggers = triggers_of("{schedule: [{cron: '0 0 * * *'}], issues: null}")
    assert triggers.push is None
    assert triggers.dispatch is None
    assert triggers.events == ("schedule", "issues")


def test_push_filters() -> None:
    triggers = triggers_of(
        "{push: {branches: [main, 'releases/**'], tags: ['v*'], paths-ignore: [docs/**]}}"
    )
    assert triggers.push == PushFilter(
        branches=("main", "releases/**"), tags=("v*",), paths_ignore=("docs/**",)
    )


def test_push_filter_accepts_a_single_string() -> None:
    assert triggers_of("{push: {branches: main}}").push == PushFilter(branches=("main",))


@pytest.mark.parametrize("kind", ["branches", "tags", "paths"])
def test_push_filter_and_its_ignore_are_exclusive(kind: str) -> None:
    message = refusal(f"on:\n  push:\n    {kind}: [a]\n    {kind}-ignore: [b]\njobs: {{}}\n")
    assert f"#L4: you may only define one of `{kind}` and `{kind}-ignore`" in message


def test_push_filter_refuses_unknown_keys() -> None:
    assert "#L3: Unexpected value 'branch'" in refusal("on:\n  push:\n    branch: [a]\njobs: {}\n")


@pytest.mark.parametrize(
    ("push", "branch", "expected"),
    [
        (PushFilter(), "anything", True),
        (PushFilter(branches=("main",)), "main", True),
        (PushFilter(branches=("main",)), "dev", False),
        (PushFilter(branches_ignore=("dev",)), "main", True),
        (PushFilter(branches_ignore=("dev",)), "dev", False),
        (PushFilter(tags=("v*",)), "main", False),  # tags only: branch pushes do not run
        (PushFilter(tags_ignore=("v*",)), "main", False),
        (PushFilter(branches=("main",), tags=("v*",)), "main", True),
        (PushFilter(paths=("src/**",)), "main", True),
    ],
)
def test_push_filter_runs_for_branch(push: PushFilter, branch: str, expected: bool) -> None:
    assert push.runs_for_branch(branch) is expected


# Dispatch inputs in the file ------------------------------------------------------------


DISPATCH = """
on:
  workflow_dispatch:
    inputs:
      name:
        description: Who to greet
        required: true
        default: Mona
      level:
        type: choice
        options: [info, warning, debug]
        default: warning
      dry:
        type: boolean
        default: true
      count:
        type: number
        default: 3
      target:
        type: environment
      free: {}
jobs:
  greet:
    runs-on: x
    steps: [{run: echo}]
"""


def test_dispatch_inputs() -> None:
    inputs = load(DISPATCH).triggers.dispatch
    assert inputs is not None
    assert list(inputs) == ["name", "level", "dry", "count", "target", "free"]
    assert inputs["name"] == Input("name", "string", True, "Mona", (), "Who to greet")
    assert inputs["level"] == Input(
        "level", "choice", False, "warning", ("info", "warning", "debug"), None
    )
    assert inputs["dry"].default is True
    assert inputs["count"].default == 3
    assert inputs["target"].type == "environment"
    assert inputs["free"] == Input("free", "string", False, None, (), None)


def test_dispatch_without_inputs() -> None:
    assert triggers_of("{workflow_dispatch: {}}").dispatch == {}
    assert triggers_of("{workflow_dispatch: null}").dispatch == {}


def dispatch_refusal(spec: str) -> str:
    return refusal(f"on:\n  workflow_dispatch:\n    inputs:\n      x: {spec}\njobs: {{}}\n")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{type: text}", "#L4: Unexpected value 'text'"),
        ("{type: choice}", "of type choice must list its `options`"),
        ("{type: choice, options: []}", "of type choice must list its `options`"),
        ("{type: choice, options: [a, b], default: c}", "not in the list of allowed values"),
        ("{type: boolean, default: maybe}", "is not a valid boolean"),
        ("{type: number, default: many}", "is not a valid number"),
        ("{required: sometimes}", "required must be a boolean"),
        ("{typo: 1}", "Unexpected value 'typo'"),
        ("[a]", "input 'x' must be a mapping"),
    ],
)
def test_dispatch_input_refusals(spec: str, message: str) -> None:
    assert message in dispatch_refusal(spec)


def test_dispatch_input_limit() -> None:
    inputs = "".join(f"      i{n}: {{}}\n" for n in range(26))
    message = refusal(f"on:\n  workflow_dispatch:\n    inputs:\n{inputs}jobs: {{}}\n")
    assert "up to 25 `inputs`" in message


# Jobs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runs_on", "labels", "group"),
    [
        ("self-hosted", ["self-hosted"], None),
        ("[self-hosted, linux, x64]", ["self-hosted", "linux", "x64"], None),
        ("{group: ci, labels: [linux]}", ["linux"], "ci"),
        ("{group: ci}", [], "ci"),
        ("{labels: gpu}", ["gpu"], None),
        ("${{ matrix.os }}", "${{ matrix.os }}", None),
        ("[self-hosted, '${{ matrix.os }}']", ["self-hosted", "${{ matrix.os }}"], None),
    ],
)
def test_runs_on(runs_on: str, labels: Any, group: str | None) -> None:
    job = single_job(f"runs-on: {runs_on}\nsteps: [{{run: x}}]\n")
    assert job.runs_on == labels
    assert job.runs_on_group == group


@pytest.mark.parametrize(
    ("runs_on", "message"),
    [
        ("[]", "runs-on must name at least one label"),
        ("{}", "runs-on must name a group or labels"),
        ("{group: ci, os: linux}", "Unexpected value 'os'"),
        ("{a: b}", "Unexpected value 'a'"),
        ("[[a]]", "must be a string"),
    ],
)
def test_bad_runs_on(runs_on: str, message: str) -> None:
    assert message in refusal(job_yaml(f"runs-on: {runs_on}\nsteps: [{{run: x}}]\n"))


def test_full_job() -> None:
    job = load(
        """
        on: push
        jobs:
          setup:
            runs-on: x
            steps: [{run: x}]
          build:
            name: Build ${{ matrix.os }}
            needs: setup
            if: github.ref == 'refs/heads/main'
            runs-on: x
            timeout-minutes: 30
            continue-on-error: ${{ matrix.experimental }}
            env: {CI: true}
            defaults: {run: {shell: sh, working-directory: app}}
            strategy:
              matrix: {os: [a, b]}
              fail-fast: false
              max-parallel: 2
            outputs:
              version: ${{ steps.v.outputs.version }}
            environment: production
            permissions: read-all
            concurrency: ci
            steps: [{run: x}]
        """
    ).jobs["build"]
    assert job.name == "Build ${{ matrix.os }}"
    assert job.needs == ("setup",)
    assert job.if_ == "github.ref == 'refs/heads/main'"
    assert job.timeout_minutes == 30
    assert job.continue_on_error == "${{ matrix.experimental }}"
    assert job.env == {"CI": "true"}
    assert job.defaults_run == DefaultsRun("sh", "app")
    assert job.matrix == {"os": ["a", "b"]}
    assert job.fail_fast is False
    assert job.max_parallel == 2
    assert job.outputs == {"version": "${{ steps.v.outputs.version }}"}
    assert job.environment == "production"


def test_an_environment_is_a_name_or_a_name_and_url() -> None:
    def job(environment: str) -> Any:
        return single_job(f"runs-on: x\nenvironment: {environment}\nsteps: [{{run: x}}]\n")

    assert job("{name: staging, url: 'https://example.test'}").environment == "staging"
    assert job("${{ inputs.target }}").environment == "${{ inputs.target }}"
    for refused in ("{url: 'https://example.test'}", "{name: staging, colour: red}", "[a, b]"):
        with pytest.raises(WorkflowError):
            job(refused)


def test_expressions_in_strategy_are_kept() -> None:
    job = single_job(
        """
        runs-on: x
        strategy:
          matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}
          fail-fast: ${{ github.event_name == 'push' }}
          max-parallel: ${{ inputs.parallel }}
        timeout-minutes: ${{ inputs.timeout }}
        steps: [{run: x}]
        """
    )
    assert job.matrix == "${{ fromJSON(needs.setup.outputs.matrix) }}"
    assert job.fail_fast == "${{ github.event_name == 'push' }}"
    assert job.max_parallel == "${{ inputs.parallel }}"
    assert job.timeout_minutes == "${{ inputs.timeout }}"


def test_matrix_with_expressions_is_kept_unchecked() -> None:
    body = "runs-on: x\nstrategy:\n  matrix:\n    os: ${{ fromJSON('[1]') }}\nsteps: [{run: x}]\n"
    job = single_job(body)
    assert job.matrix == {"os": "${{ fromJSON('[1]') }}"}


def test_if_as_a_yaml_boolean() -> None:
    assert single_job("runs-on: x\nif: false\nsteps: [{run: x}]\n").if_ == "false"


def test_needs_as_a_list() -> None:
    workflow = load(
        """
        on: push
        jobs:
          a: {runs-on: x, steps: [{run: x}]}
          b: {runs-on: x, steps: [{run: x}]}
          c: {runs-on: x, needs: [a, b], steps: [{run: x}]}
        """
    )
    assert workflow.jobs["c"].needs == ("a", "b")
    assert list(workflow.jobs) == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("steps: [{run: x}]\n", "#L3: job 'build': Required property is missing: runs-on"),
        ("runs-on: x\n", "#L3: job 'build': Required property is missing: steps"),
        ("runs-on: x\nsteps: []\n", "job 'build' must have at least one step"),
        ("runs-on: x\nsteps: {run: x}\n", "job 'build' must have at least one step"),
        ("runs-on: x\nstep: [{run: x}]\n", "#L5: Unexpected value 'step'"),
        ("runs-on: x\ntimeout-minutes: -1\nsteps: [{run: x}]\n", "timeout-minutes must be a"),
        ("runs-on: x\ntimeout-minutes: soon\nsteps: [{run: x}]\n", "timeout-minutes must be a"),
        ("runs-on: x\ncontinue-on-error: maybe\nsteps: [{run: x}]\n", "continue-on-error must"),
        ("runs-on: x\nstrategy: {fail-fast: 1}\nsteps: [{run: x}]\n", "fail-fast must be"),
        ("runs-on: x\nstrategy: {max-parallel: 0}\nsteps: [{run: x}]\n", "max-parallel must"),
        ("runs-on: x\nstrategy: {matrix: [1]}\nsteps: [{run: x}]\n", "matrix must be a mapping"),
        ("runs-on: x\nstrategy: {matrx: {}}\nsteps: [{run: x}]\n", "Unexpected value 'matrx'"),
        ("runs-on: x\nstrategy: {matrix: {os: []}}\nsteps: [{run: x}]\n", "does not contain any"),
        ("runs-on: x\nenv: [A]\nsteps: [{run: x}]\n", "env must be a mapping"),
        ("runs-on: x\nenv: {A: [1]}\nsteps: [{run: x}]\n", "env A must be a string"),
        ("runs-on: x\noutputs: [a]\nsteps: [{run: x}]\n", "outputs must be a mapping"),
        ("runs-on: x\ndefaults: {shell: bash}\nsteps: [{run: x}]\n", "Unexpected value 'shell'"),
        ("runs-on: x\ndefaults: {run: {shell: zsh}}\nsteps: [{run: x}]\n", "unknown shell 'zsh'"),
        ("uses: org/repo/.github/workflows/w.yml@main\n", "calls a reusable workflow"),
        ("runs-on: x\ncontainer: node:18\nsteps: [{run: x}]\n", "uses `container`"),
        ("runs-on: x\nservices: {db: {image: pg}}\nsteps: [{run: x}]\n", "uses `services`"),
        ("[1]\n", "job 'build' must be a mapping"),
    ],
)
def test_job_refusals(body: str, message: str) -> None:
    assert message in refusal(job_yaml(body))


@pytest.mark.parametrize("key", ["1build", "my job", "-x", "a" * 100, "b.c"])
def test_invalid_job_ids(key: str) -> None:
    message = refusal(f"on: push\njobs:\n  '{key}':\n    runs-on: x\n    steps: [{{run: x}}]\n")
    assert f"The identifier '{key}' is invalid" in message


def test_unknown_need() -> None:
    message = refusal(job_yaml("runs-on: x\nneeds: [nope]\nsteps: [{run: x}]\n"))
    assert message == (
        f"Invalid workflow file: {PATH}#L5: Job 'build' depends on unknown job 'nope'."
    )


def test_needs_cycle() -> None:
    message = refusal(
        """
        on: push
        jobs:
          a: {runs-on: x, needs: c, steps: [{run: x}]}
          b: {runs-on: x, needs: a, steps: [{run: x}]}
          c: {runs-on: x, needs: b, steps: [{run: x}]}
        """
    )
    assert "creates a cycle in the dependency graph" in message
    assert "a -> c -> b -> a" in message


def test_job_needing_itself() -> None:
    message = refusal(job_yaml("runs-on: x\nneeds: build\nsteps: [{run: x}]\n"))
    assert "Job 'build' depends on job 'build', which creates a cycle" in message


def test_diamond_needs_are_fine() -> None:
    workflow = load(
        """
        on: push
        jobs:
          a: {runs-on: x, steps: [{run: x}]}
          b: {runs-on: x, needs: a, steps: [{run: x}]}
          c: {runs-on: x, needs: a, steps: [{run: x}]}
          d: {runs-on: x, needs: [b, c], steps: [{run: x}]}
        """
    )
    assert workflow.jobs["d"].needs == ("b", "c")


# Steps ---------------------------------------------------------------------------------


def test_full_step() -> None:
    job = single_job(
        """
        runs-on: x
        steps:
          - run: echo one
          - id: build
            name: Build it
            run: |
              make
              make test
            shell: python
            env: {A: 1}
            working-directory: src
            if: success()
            continue-on-error: true
            timeout-minutes: 5
          - run: echo {0}
            shell: perl {0}
        """
    )
    first, second, third = job.steps
    assert (first.number, second.number, third.number) == (1, 2, 3)
    assert second.id == "build"
    assert second.name == "Build it"
    assert second.run == "make\nmake test\n"
    assert second.shell == "python"
    assert second.env == {"A": "1"}
    assert second.working_directory == "src"
    assert second.if_ == "success()"
    assert second.continue_on_error is True
    assert second.timeout_minutes == 5
    assert third.shell == "perl {0}"


@pytest.mark.parametrize("shell", ["bash", "sh", "python", "bash -e {0}", "node {0}"])
def test_allowed_shells(shell: str) -> None:
    job = single_job(f"runs-on: x\nsteps:\n  - run: x\n    shell: '{shell}'\n")
    assert job.steps[0].shell == shell


@pytest.mark.parametrize("shell", ["zsh", "pwsh", "cmd", "powershell", "node"])
def test_refused_shells(shell: str) -> None:
    message = refusal(job_yaml(f"runs-on: x\nsteps:\n  - run: x\n    shell: {shell}\n"))
    assert f"#L7: step 1 of job 'build': unknown shell '{shell}'" in message


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("- name: nothing\n", "step 1 of job 'build' has neither `run` and `uses`"),
        ("- run: x\n  uses: a/b@v1\n", "step 1 of job 'build' has both `run` and `uses`"),
        ("- run: x\n- {name: n}\n", "step 2 of job 'build' has neither"),
        ("- run: x\n  runs: y\n", "Unexpected value 'runs'"),
        ("- run: x\n  id: 1st\n", "The identifier '1st' is invalid"),
        ("- {run: x, id: a}\n- {run: y, id: a}\n", "'a' may not be used more than once"),
        ("- run: [a]\n", "run must be a string"),
        ("- echo\n", "step 1 of job 'build' must be a mapping"),
    ],
)
def test_step_refusals(steps: str, message: str) -> None:
    assert message in refusal(job_yaml("runs-on: x\nsteps:\n" + textwrap.indent(steps, "  ")))


def test_step_refusal_gives_the_step_line() -> None:
    message = refusal(job_yaml("runs-on: x\nsteps:\n  - run: x\n  - name: n\n"))
    assert f"{PATH}#L7: " in message


def test_action_steps_parse_but_are_refused_for_storage() -> None:
    workflow = load(job_yaml("runs-on: x\nsteps:\n  - run: x\n  - uses: actions/checkout@v4\n"))
    assert workflow.jobs["build"].steps[1].uses == "actions/checkout@v4"
    with pytest.raises(WorkflowError) as caught:
        refuse_uses(workflow)
    assert caught.value.message == (
        f"Invalid workflow file: {PATH}: step 2 of job 'build' uses an action "
        "(actions/checkout@v4): runnerhub runs `run:` steps only"
    )


def test_refuse_uses_accepts_run_steps() -> None:
    refuse_uses(load(MINIMAL))


# Matrices ------------------------------------------------------------------------------


def test_no_matrix_is_one_combination() -> None:
    assert expand_matrix(None) == [{}]


def test_matrix_product_order() -> None:
    assert expand_matrix({"version": [10, 12], "os": ["ubuntu", "windows"]}) == [
        {"version": 10, "os": "ubuntu"},
        {"version": 10, "os": "windows"},
        {"version": 12, "os": "ubuntu"},
        {"version": 12, "os": "windows"},
    ]


def test_matrix_single_vector() -> None:
    assert expand_matrix({"os": ["a"]}) == [{"os": "a"}]


def test_matrix_values_may_be_objects() -> None:
    assert expand_matrix({"cfg": [{"a": 1}, {"a": 2}]}) == [{"cfg": {"a": 1}}, {"cfg": {"a": 2}}]


def test_exclude_removes_matching_combinations() -> None:
    matrix = {
        "os": ["macos", "windows"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos", "version": 12, "environment": "production"},
            {"os": "windows", "version": 16},
        ],
    }
    combos = expand_matrix(matrix)
    assert len(combos) == 12 - 1 - 2
    assert {"os": "macos", "version": 12, "environment": "production"} not in combos
    assert not any(c["os"] == "windows" and c["version"] == 16 for c in combos)


def test_exclude_matches_objects_partially() -> None:
    matrix = {"cfg": [{"a": 1, "b": 2}, {"a": 3, "b": 4}], "exclude": [{"cfg": {"a": 1}}]}
    assert expand_matrix(matrix) == [{"cfg": {"a": 3, "b": 4}}]


def test_include_example_from_githubs_docs() -> None:
    matrix = {
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ],
    }
    assert expand_matrix(matrix) == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_include_never_overwrites_original_values() -> None:
    matrix = {"os": ["linux"], "include": [{"os": "windows", "extra": 1}]}
    assert expand_matrix(matrix) == [{"os": "linux"}, {"os": "windows", "extra": 1}]


def test_include_extends_matching_combinations_only() -> None:
    matrix = {"os": ["windows", "linux"], "node": [16], "include": [{"os": "windows", "npm": 6}]}
    assert expand_matrix(matrix) == [
        {"os": "windows", "node": 16, "npm": 6},
        {"os": "linux", "node": 16},
    ]


def test_include_only_matrix() -> None:
    matrix = {"include": [{"site": "prod", "url": "a"}, {"site": "dev", "url": "b"}]}
    assert expand_matrix(matrix) == [{"site": "prod", "url": "a"}, {"site": "dev", "url": "b"}]


def test_exclude_applies_before_include() -> None:
    matrix = {
        "os": ["a", "b"],
        "exclude": [{"os": "a"}],
        "include": [{"os": "a", "extra": True}],
    }
    assert expand_matrix(matrix) == [{"os": "b"}, {"os": "a", "extra": True}]


def test_matrix_of_exactly_256_jobs() -> None:
    assert len(expand_matrix({"a": list(range(16)), "b": list(range(16))})) == 256


def test_matrix_beyond_256_jobs() -> None:
    with pytest.raises(WorkflowError, match="257 jobs; the maximum is 256"):
        expand_matrix({"a": list(range(257))})


def test_huge_matrix_is_refused_without_building_it() -> None:
    with pytest.raises(WorkflowError, match="maximum is 256"):
        expand_matrix({k: list(range(100)) for k in "abcdefgh"})


def test_includes_count_toward_the_limit() -> None:
    matrix = {"a": list(range(256)), "include": [{"a": "new"}]}
    with pytest.raises(WorkflowError, match="257 jobs"):
        expand_matrix(matrix)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({}, "Matrix must define at least one vector"),
        ({"os": []}, "Matrix vector 'os' does not contain any values"),
        ({"os": "linux"}, "Matrix vector 'os' must be a list"),
        ({"os": ["a"], "exclude": [{"arch": "x"}]}, "exclude key 'arch' does not match any key"),
        ({"os": ["a"], "include": {"os": "b"}}, "Matrix include must be a list of mappings"),
        ({"os": ["a"], "exclude": ["a"]}, "Matrix exclude must be a list of mappings"),
        ({"os": ["a"], "exclude": [{"os": "a"}]}, "produces no jobs"),
    ],
)
def test_matrix_errors(matrix: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowError, match=message):
        expand_matrix(matrix)


def test_matrix_that_is_not_a_mapping() -> None:
    with pytest.raises(WorkflowError, match="must be a mapping"):
        expand_matrix(["a"])  # type: ignore[arg-type]


def test_static_matrix_errors_are_found_when_parsing() -> None:
    body = "runs-on: x\nstrategy:\n  matrix:\n    a: [1]\n    exclude: [{b: 1}]\nsteps: [{run: x}]"
    message = refusal(job_yaml(body))
    assert f"{PATH}#L6: Matrix exclude key 'b'" in message


# Branch filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "branch", "expected"),
    [
        ("main", "main", True),
        ("main", "Main", False),
        ("main", "main2", False),
        ("feature/*", "feature/x", True),
        ("feature/*", "feature/x/y", False),
        ("feature/*", "feature/", True),
        ("feature/**", "feature/x/y", True),
        ("**", "any/thing/at/all", True),
        ("*", "no-slash", True),
        ("*", "has/slash", False),
        ("releases/**-alpha", "releases/v1/beta/3-alpha", True),
        ("*-alpha", "v1-alpha", True),
        # `?` is zero or one of the preceding character (GitHub's cheat sheet today), not
        # any one character as the older docs' "Octoc?t matches Octocat" example suggested.
        ("Octoc?t", "Octoct", True),
        ("Octoc?t", "Octot", True),
        ("Octoc?t", "Octocat", False),
        ("Octoc?t", "Octocct", False),
        ("ab+c", "abbbc", True),
        ("ab+c", "ac", False),
        ("[CB]at", "Cat", True),
        ("[CB]at", "Bat", True),
        ("[CB]at", "Rat", False),
        ("v[0-9].[0-9]", "v1.2", True),
        ("v[0-9].[0-9]", "v1x2", False),
        ("v[0-9]+", "v123", True),
        ("[1-2]00", "200", True),
        ("[1-2]00", "300", False),
        ("release.1", "releasex1", False),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("+lead", "+lead", True),
        ("(x)", "(x)", True),
        ("[unclosed", "[unclosed", True),
    ],
)
def test_branch_patterns(pattern: str, branch: str, expected: bool) -> None:
    assert branch_matches([pattern], None, branch) is expected


@pytest.mark.parametrize(
    ("branches", "branch", "expected"),
    [
        (["releases/**", "!releases/**-alpha"], "releases/10", True),
        (["releases/**", "!releases/**-alpha"], "releases/10-alpha", False),
        (["releases/**", "!releases/**-alpha", "releases/x-alpha"], "releases/x-alpha", True),
        (["!main"], "main", False),
        (["!main"], "dev", False),  # a negation alone matches nothing
        (["main", "!main"], "main", False),
        (["!main", "main"], "main", True),
        ([], "main", False),
    ],
)
def test_negations_are_read_in_order(branches: list[str], branch: str, expected: bool) -> None:
    assert branch_matches(branches, None, branch) is expected


@pytest.mark.parametrize(
    ("ignore", "branch", "expected"),
    [
        (["dev"], "main", True),
        (["dev"], "dev", False),
        (["feature/**"], "feature/a/b", False),
        (["feature/**", "!feature/keep"], "feature/keep", True),
        ([], "main", True),
    ],
)
def test_branches_ignore(ignore: list[str], branch: str, expected: bool) -> None:
    assert branch_matches(None, ignore, branch) is expected


def test_no_branch_filter_matches_everything() -> None:
    assert branch_matches(None, None, "whatever/branch") is True


# Dispatch inputs at dispatch time ------------------------------------------------------


def declared() -> dict[str, Input]:
    inputs = load(DISPATCH).triggers.dispatch
    assert inputs is not None
    return inputs


def test_defaults_are_filled_in() -> None:
    assert check_inputs(declared(), {}) == {
        "name": "Mona",
        "level": "warning",
        "dry": True,
        "count": 3,
        "target": "",
        "free": "",
    }


def test_given_values_are_typed() -> None:
    given = {"name": "Octo", "level": "debug", "dry": "false", "count": "7", "target": "prod"}
    assert check_inputs(declared(), given) == {
        "name": "Octo",
        "level": "debug",
        "dry": False,
        "count": 7,
        "target": "prod",
        "free": "",
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("False", False),
    ],
)
def test_boolean_inputs(given: Any, expected: bool) -> None:
    assert check_inputs(declared(), {"dry": given})["dry"] is expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [("7", 7), ("-2", -2), ("2.5", 2.5), (" 3 ", 3), (4, 4), (1.5, 1.5), ("1e2", 100.0)],
)
def test_number_inputs(given: Any, expected: float) -> None:
    assert check_inputs(declared(), {"count": given})["count"] == expected


def test_scalars_given_for_strings_become_strings() -> None:
    assert check_inputs(declared(), {"free": 5})["free"] == "5"
    assert check_inputs(declared(), {"free": True})["free"] == "true"


def test_unset_optional_inputs() -> None:
    inputs = {
        "b": Input("b", "boolean", False, None, (), None),
        "n": Input("n", "number", False, None, (), None),
        "s": Input("s", "string", False, None, (), None),
        "c": Input("c", "choice", False, None, ("x",), None),
    }
    assert check_inputs(inputs, {}) == {"b": False, "n": 0, "s": "", "c": ""}


def test_required_input_with_a_default_may_be_omitted() -> None:
    assert check_inputs(declared(), {})["name"] == "Mona"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"nope": "x"}, 'Unexpected inputs provided: ["nope"]'),
        ({"a": "1", "name": "x", "b": "2"}, 'Unexpected inputs provided: ["a", "b"]'),
        ({"level": "trace"}, "Provided value 'trace' for input 'level' not in the list"),
        ({"level": "WARNING"}, "not in the list of allowed values"),
        ({"dry": "yes"}, "Provided value 'yes' for input 'dry' is not a valid boolean"),
        ({"dry": 1}, "is not a valid boolean"),
        ({"count": "many"}, "Provided value 'many' for input 'count' is not a valid number"),
        ({"count": True}, "is not a valid number"),
        ({"count": "0x10"}, "is not a valid number"),
        ({"free": ["a"]}, "Provided value for input 'free' must be a string"),
    ],
)
def test_input_refusals(given: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowError) as caught:
        check_inputs(declared(), given)
    assert message in caught.value.message
    assert caught.value.status == 422


def test_required_input_not_provided() -> None:
    inputs = {"env": Input("env", "string", True, None, (), None)}
    with pytest.raises(WorkflowError, match="Required input 'env' not provided"):
        check_inputs(inputs, {})
    with pytest.raises(WorkflowError, match="Required input 'env' not provided"):
        check_inputs(inputs, {"env": ""})
    assert check_inputs(inputs, {"env": "prod"}) == {"env": "prod"}


def test_no_inputs_declared() -> None:
    assert check_inputs({}, {}) == {}
    with pytest.raises(WorkflowError, match=r'Unexpected inputs provided: \["x"\]'):
        check_inputs({}, {"x": "1"})
