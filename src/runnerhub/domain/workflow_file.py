"""Workflow files: parse and check `.github/workflows/*.yml` as GitHub does, for `run:` steps.

Read:
- `on` as a string, a list or a mapping; `push` (branches, branches-ignore, tags, tags-ignore,
  paths, paths-ignore) and `workflow_dispatch` (inputs) are kept, other known events are
  accepted and ignored, an unknown event is an error;
- workflow `name`, `env`, `defaults.run`; jobs with `name`, `runs-on` (a label, a list that must
  all match, `{group, labels}`, or an expression), `needs`, `if`, `strategy` (matrix, fail-fast,
  max-parallel), `timeout-minutes`, `continue-on-error`, `env`, `defaults.run`, `outputs`,
  `steps`; steps with `id`, `name`, `run` or `uses`, `shell`, `env`, `working-directory`, `if`,
  `continue-on-error`, `timeout-minutes`; a job's `environment` (a name, or `{name, url}`)
  is kept (domain/environments.py). `permissions`, `concurrency` and `run-name` are accepted
  and ignored.

Refused, with GitHub-style messages ("Invalid workflow file: <path>#L<line>: ..."): bad YAML,
duplicate keys, unknown keys, a missing `on` or `jobs`, a job without `runs-on` or `steps`,
`needs` naming an unknown job or making a cycle, a step with neither or both of `run` and
`uses`, a shell other than bash, sh, python or a command containing `{0}`, reusable workflows
(job-level `uses`), `container` and `services`. `refuse_uses` refuses action steps, which parse
keeps so that the message can name them.

YAML is read as YAML 1.2 reads booleans: only true/false are booleans, so the `on` key (and
`yes`, `no`, `off`) stay strings, as on GitHub; PyYAML's 1.1 rules would make `on` True.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from runnerhub.errors import ValidationFailed

__all__ = [
    "DefaultsRun",
    "Input",
    "JobSpec",
    "PushFilter",
    "StepSpec",
    "Triggers",
    "Workflow",
    "WorkflowError",
    "branch_matches",
    "check_inputs",
    "expand_matrix",
    "parse",
    "refuse_uses",
]

MAX_MATRIX_JOBS = 256
MAX_DISPATCH_INPUTS = 25
DEFAULT_TIMEOUT_MINUTES = 360

InputType = Literal["string", "boolean", "number", "choice", "environment"]
INPUT_TYPES: tuple[InputType, ...] = ("string", "boolean", "number", "choice", "environment")
SHELLS = ("bash", "sh", "python")


class WorkflowError(ValidationFailed):
    """A workflow file, a matrix or dispatch inputs that GitHub would refuse (422)."""


@dataclass(frozen=True)
class Input:
    name: str
    type: InputType
    required: bool
    default: str | bool | int | float | None
    options: tuple[str, ...]
    description: str | None


@dataclass(frozen=True)
class PushFilter:
    """Push filters as written. Paths are kept but judged by the caller, which has the diff."""

    branches: tuple[str, ...] | None = None
    branches_ignore: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    tags_ignore: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None
    paths_ignore: tuple[str, ...] | None = None

    def runs_for_branch(self, branch: str) -> bool:
        # A filter on tags alone means branch pushes do not trigger (GitHub's rule).
        only_tags = self.branches is None and self.branches_ignore is None and (
            self.tags is not None or self.tags_ignore is not None
        )
        return not only_tags and branch_matches(self.branches, self.branches_ignore, branch)


@dataclass(frozen=True)
class Triggers:
    push: PushFilter | None
    dispatch: dict[str, Input] | None
    events: tuple[str, ...]  # every event named in `on`, in order


@dataclass(frozen=True)
class DefaultsRun:
    shell: str | None = None
    working_directory: str | None = None


@dataclass(frozen=True)
class StepSpec:
    number: int  # 1-based, as GitHub numbers steps in messages
    id: str | None
    name: str | None
    run: str | None
    uses: str | None
    shell: str | None
    env: dict[str, str]
    working_directory: str | None
    if_: str | None
    continue_on_error: bool | str
    timeout_minutes: int | float | str | None


@dataclass(frozen=True)
class JobSpec:
    key: str
    name: str
    runs_on: list[str] | str  # labels that must all match, or an unresolved expression
    runs_on_group: str | None
    needs: tuple[str, ...]
    if_: str | None
    matrix: Mapping[str, Any] | str | None  # raw strategy.matrix: may hold expressions
    fail_fast: bool | str
    max_parallel: int | str | None
    timeout_minutes: int | float | str
    continue_on_error: bool | str
    env: dict[str, str]
    defaults_run: DefaultsRun
    steps: tuple[StepSpec, ...]
    outputs: dict[str, str]
    environment: str | None = None  # its name: may hold expressions


@dataclass(frozen=True)
class Workflow:
    path: str
    name: str
    triggers: Triggers
    env: dict[str, str]
    defaults_run: DefaultsRun
    jobs: dict[str, JobSpec]


# ---------------------------------------------------------------------------------------------
# YAML, with YAML 1.2 booleans, duplicate keys refused, and the node tree kept for line numbers.


class _Problem(Exception):
    """A rule broken at `where` (a path of keys and indexes into the document)."""

    def __init__(self, where: Sequence[str | int], detail: str) -> None:
        super().__init__(detail)
        self.where = tuple(where)
        self.detail = detail


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise _DuplicateKey(key_node.start_mark.line + 1, f"'{key}' is already defined")
            seen.add(key)
        return super().construct_mapping(node, deep)


class _DuplicateKey(Exception):
    def __init__(self, line: int, detail: str) -> None:
        super().__init__(detail)
        self.line = line
        self.detail = detail


_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _message(path: str, line: int | None, detail: str) -> str:
    where = f"{path}#L{line}" if line is not None else path
    return f"Invalid workflow file: {where}: {detail}"


def _load(text: str, path: str) -> tuple[yaml.Node | None, Any]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        return node, loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        raise WorkflowError(_message(path, line, str(error.problem or error.context))) from None
    except yaml.YAMLError as error:
        raise WorkflowError(_message(path, None, str(error))) from None
    except _DuplicateKey as error:
        raise WorkflowError(_message(path, error.line, error.detail)) from None
    finally:
        loader.dispose()


def _line(node: yaml.Node | None, where: Sequence[str | int]) -> int | None:
    """The line of the key (or item) at `where`, or of the nearest ancestor found."""
    line = node.start_mark.line + 1 if node is not None else None
    for step in where:
        if isinstance(node, yaml.MappingNode):
            pair = next((p for p in node.value if p[0].value == step), None)
            if pair is None:
                return line
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return line
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


# ---------------------------------------------------------------------------------------------
# Small readers shared by the whole document.

Where = tuple[str | int, ...]
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,98}")  # "less than 100 characters"
_EXPRESSION = "${{"


def _mapping(raw: Any, where: Where, what: str) -> dict[Any, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _Problem(where, f"{what} must be a mapping")
    return raw


def _only_keys(raw: Mapping[Any, Any], allowed: Iterable[str], where: Where) -> None:
    allowed = set(allowed)
    for key in raw:
        if key not in allowed:
            raise _Problem((*where, key), f"Unexpected value '{key}'")


def _text(raw: Any, where: Where, what: str) -> str:
    """A scalar as the string GitHub reads it: booleans lower-case, integral numbers bare."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, str):
        return raw
    raise _Problem(where, f"{what} must be a string")


def _optional_text(raw: Any, where: Where, what: str) -> str | None:
    return None if raw is None else _text(raw, where, what)


def _strings(raw: Any, where: Where, what: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    return tuple(_text(item, (*where, i), what) for i, item in enumerate(items))


def _env(raw: Any, where: Where) -> dict[str, str]:
    env = _mapping(raw, where, "env")
    return {str(k): "" if v is None else _text(v, (*where, k), f"env {k}") for k, v in env.items()}


def _flag(raw: Any, where: Where, what: str, default: bool) -> bool | str:
    """A boolean, or an expression the runner resolves later."""
    if raw is None:
        return default
    if isinstance(raw, bool) or (isinstance(raw, str) and _EXPRESSION in raw):
        return raw
    raise _Problem(where, f"{what} must be a boolean or an expression")


def _minutes(raw: Any, where: Where) -> int | float | str | None:
    if raw is None:
        return None
    if isinstance(raw, str) and _EXPRESSION in raw:
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw > 0:
        return raw
    raise _Problem(where, "timeout-minutes must be a positive number or an expression")


def _condition(raw: Any, where: Where) -> str | None:
    return None if raw is None else _text(raw, where, "if")


def _defaults(raw: Any, where: Where) -> DefaultsRun:
    defaults = _mapping(raw, where, "defaults")
    _only_keys(defaults, ("run",), where)
    run = _mapping(defaults.get("run"), (*where, "run"), "defaults.run")
    _only_keys(run, ("shell", "working-directory"), (*where, "run"))
    shell = _optional_text(run.get("shell"), (*where, "run", "shell"), "shell")
    if shell is not None:
        _check_shell(shell, (*where, "run", "shell"), "defaults.run")
    directory = run.get("working-directory")
    return DefaultsRun(shell, _optional_text(directory, (*where, "run"), "working-directory"))


def _check_shell(shell: str, where: Where, owner: str) -> None:
    if shell not in SHELLS and "{0}" not in shell:
        raise _Problem(
            where,
            f"{owner}: unknown shell '{shell}' (runnerhub runs bash, sh, python, or a command "
            "containing {0})",
        )


# ---------------------------------------------------------------------------------------------
# The document.

_TOP_KEYS = ("name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs")


def parse(text: str, path: str) -> Workflow:
    """The workflow in `text`, stored at `path` (its name unless it names itself)."""
    root, document = _load(text, path)
    try:
        return _workflow(document, path)
    except _Problem as problem:
        raise WorkflowError(_message(path, _line(root, problem.where), problem.detail)) from None


def _workflow(document: Any, path: str) -> Workflow:
    if document is None:
        raise _Problem((), "the workflow file is empty")
    raw = _mapping(document, (), "A workflow")
    _only_keys(raw, _TOP_KEYS, ())
    if "on" not in raw:
        raise _Problem((), "No event triggers defined in `on`")
    if "jobs" not in raw:
        raise _Problem((), "No jobs defined in `jobs`")
    return Workflow(
        path=path,
        name=_optional_text(raw.get("name"), ("name",), "name") or path,
        triggers=_triggers(raw["on"], ("on",)),
        env=_env(raw.get("env"), ("env",)),
        defaults_run=_defaults(raw.get("defaults"), ("defaults",)),
        jobs=_jobs(raw["jobs"], ("jobs",)),
    )


# ---------------------------------------------------------------------------------------------
# Triggers.

# Every event GitHub accepts in `on`; a name outside it is a typo GitHub refuses too.
_EVENTS = frozenset(
    {
        "branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment",
        "deployment_status", "discussion", "discussion_comment", "fork", "gollum",
        "image_version", "issue_comment", "issues", "label", "merge_group", "milestone",
        "page_build", "project", "project_card", "project_column", "public", "pull_request",
        "pull_request_review", "pull_request_review_comment", "pull_request_target", "push",
        "registry_package", "release", "repository_dispatch", "schedule", "status", "watch",
        "workflow_call", "workflow_dispatch", "workflow_run",
    }
)  # fmt: skip
_PUSH_KEYS = ("branches", "branches-ignore", "tags", "tags-ignore", "paths", "paths-ignore")
_INPUT_KEYS = ("description", "required", "default", "type", "options", "deprecationMessage")


def _triggers(raw: Any, where: Where) -> Triggers:
    if isinstance(raw, str | list):
        names = _strings(raw, where, "an event name")
        events: dict[str, Any] = dict.fromkeys(names)
    else:
        events = _mapping(raw, where, "`on`")
    if not events:
        raise _Problem(where, "No event triggers defined in `on`")
    for name in events:
        if name not in _EVENTS:
            raise _Problem((*where, name), f"Unexpected value '{name}'")
    return Triggers(
        push=_push(events["push"], (*where, "push")) if "push" in events else None,
        dispatch=(
            _dispatch(events["workflow_dispatch"], (*where, "workflow_dispatch"))
            if "workflow_dispatch" in events
            else None
        ),
        events=tuple(events),
    )


def _push(raw: Any, where: Where) -> PushFilter:
    push = _mapping(raw, where, "push")
    _only_keys(push, _PUSH_KEYS, where)
    for kind in ("branches", "tags", "paths"):
        if kind in push and f"{kind}-ignore" in push:
            raise _Problem(
                (*where, f"{kind}-ignore"),
                f"you may only define one of `{kind}` and `{kind}-ignore` for a single event",
            )
    filters = {
        key.replace("-", "_"): _strings(push[key], (*where, key), key) if key in push else None
        for key in _PUSH_KEYS
    }
    return PushFilter(**filters)


def _dispatch(raw: Any, where: Where) -> dict[str, Input]:
    dispatch = _mapping(raw, where, "workflow_dispatch")
    _only_keys(dispatch, ("inputs",), where)
    inputs = _mapping(dispatch.get("inputs"), (*where, "inputs"), "inputs")
    if len(inputs) > MAX_DISPATCH_INPUTS:
        raise _Problem(
            (*where, "inputs"),
            f"you may only define up to {MAX_DISPATCH_INPUTS} `inputs` for a "
            "`workflow_dispatch` event",
        )
    return {str(k): _input(str(k), spec, (*where, "inputs", k)) for k, spec in inputs.items()}


def _input(name: str, raw: Any, where: Where) -> Input:
    spec = _mapping(raw, where, f"input '{name}'")
    _only_keys(spec, _INPUT_KEYS, where)
    kind = spec.get("type", "string")
    if kind not in INPUT_TYPES:
        raise _Problem((*where, "type"), f"Unexpected value '{kind}'")
    options = _strings(spec.get("options", []), (*where, "options"), "an option")
    if kind == "choice" and not options:
        raise _Problem(where, f"input '{name}' of type choice must list its `options`")
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise _Problem((*where, "required"), "required must be a boolean")
    description = _optional_text(spec.get("description"), (*where, "description"), "description")
    declared = Input(name, kind, required, None, options, description)
    if spec.get("default") is None:
        return declared
    try:
        default = _typed_input(declared, spec["default"])
    except WorkflowError as error:
        raise _Problem((*where, "default"), f"default: {error.message}") from None
    return Input(name, kind, required, default, options, description)


# ---------------------------------------------------------------------------------------------
# Jobs and steps.

_JOB_KEYS = (
    "name", "permissions", "needs", "if", "runs-on", "environment", "concurrency", "outputs",
    "env", "defaults", "steps", "timeout-minutes", "strategy", "continue-on-error", "container",
    "services", "uses", "with", "secrets",
)  # fmt: skip
_STEP_KEYS = (
    "id", "name", "if", "uses", "run", "shell", "with", "env", "working-directory",
    "continue-on-error", "timeout-minutes",
)  # fmt: skip


def _jobs(raw: Any, where: Where) -> dict[str, JobSpec]:
    jobs = _mapping(raw, where, "jobs")
    if not jobs:
        raise _Problem(where, "No jobs defined in `jobs`")
    specs = {}
    for key, job in jobs.items():
        _check_id(key, (*where, key))
        specs[key] = _job(key, job, (*where, key))
    _check_needs(specs, where)
    return specs


def _check_id(key: Any, where: Where) -> None:
    if not isinstance(key, str) or not _ID.fullmatch(key):
        raise _Problem(
            where,
            f"The identifier '{key}' is invalid. IDs may only contain alphanumeric characters, "
            "'_', and '-'. IDs must start with a letter or '_' and must be less than 100 "
            "characters.",
        )


def _refuse_unsupported_job(key: str, job: Mapping[str, Any], where: Where) -> None:
    if "uses" in job:
        raise _Problem(
            (*where, "uses"),
            f"job '{key}' calls a reusable workflow ({job['uses']}): runnerhub runs `run:` "
            "steps only",
        )
    for key_word in ("container", "services"):
        if key_word in job:
            raise _Problem(
                (*where, key_word),
                f"job '{key}' uses `{key_word}`: runnerhub runs steps on the runner itself",
            )


def _job(key: str, raw: Any, where: Where) -> JobSpec:
    job = _mapping(raw, where, f"job '{key}'")
    _only_keys(job, _JOB_KEYS, where)
    _refuse_unsupported_job(key, job, where)
    for required in ("runs-on", "steps"):
        if required not in job:
            raise _Problem(where, f"job '{key}': Required property is missing: {required}")
    runs_on, group = _runs_on(job["runs-on"], (*where, "runs-on"))
    strategy = _mapping(job.get("strategy"), (*where, "strategy"), "strategy")
    _only_keys(strategy, ("matrix", "fail-fast", "max-parallel"), (*where, "strategy"))
    return JobSpec(
        key=key,
        name=_optional_text(job.get("name"), (*where, "name"), "name") or key,
        runs_on=runs_on,
        runs_on_group=group,
        needs=_strings(job.get("needs", []), (*where, "needs"), "needs"),
        if_=_condition(job.get("if"), (*where, "if")),
        matrix=_matrix(strategy.get("matrix"), (*where, "strategy", "matrix")),
        fail_fast=_flag(strategy.get("fail-fast"), (*where, "strategy"), "fail-fast", True),
        max_parallel=_max_parallel(strategy.get("max-parallel"), (*where, "strategy")),
        timeout_minutes=_minutes(job.get("timeout-minutes"), (*where, "timeout-minutes"))
        or DEFAULT_TIMEOUT_MINUTES,
        continue_on_error=_flag(job.get("continue-on-error"), where, "continue-on-error", False),
        env=_env(job.get("env"), (*where, "env")),
        defaults_run=_defaults(job.get("defaults"), (*where, "defaults")),
        steps=_steps(key, job["steps"], (*where, "steps")),
        outputs=_outputs(job.get("outputs"), (*where, "outputs")),
        environment=_environment(job.get("environment"), (*where, "environment")),
    )


def _environment(raw: Any, where: Where) -> str | None:
    """`environment: name` or `environment: {name, url}`."""
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        _only_keys(raw, ("name", "url", "deployment"), where)
        if "name" not in raw:
            raise _Problem(where, "Required property is missing: name")
        return _text(raw["name"], (*where, "name"), "environment name")
    return _text(raw, where, "environment")


def _runs_on(raw: Any, where: Where) -> tuple[list[str] | str, str | None]:
    if isinstance(raw, str) and _EXPRESSION in raw:
        return raw, None
    if isinstance(raw, dict):
        _only_keys(raw, ("group", "labels"), where)
        group = _optional_text(raw.get("group"), (*where, "group"), "group")
        labels = list(_strings(raw.get("labels", []), (*where, "labels"), "a label"))
        if group is None and not labels:
            raise _Problem(where, "runs-on must name a group or labels")
        return labels, group
    labels = list(_strings(raw, where, "a label"))
    if not labels:
        raise _Problem(where, "runs-on must name at least one label")
    return labels, None


def _matrix(raw: Any, where: Where) -> Mapping[str, Any] | str | None:
    if raw is None or (isinstance(raw, str) and _EXPRESSION in raw):
        return raw
    matrix = _mapping(raw, where, "matrix")
    if not _holds_expression(matrix):
        # Nothing left for the runner to resolve: report a bad matrix now, not at run time.
        try:
            expand_matrix(matrix)
        except WorkflowError as error:
            raise _Problem(where, error.message) from None
    return matrix


def _holds_expression(raw: Any) -> bool:
    if isinstance(raw, str):
        return _EXPRESSION in raw
    if isinstance(raw, dict):
        return any(_holds_expression(v) for v in raw.values())
    return isinstance(raw, list) and any(_holds_expression(v) for v in raw)


def _max_parallel(raw: Any, where: Where) -> int | str | None:
    if raw is None or (isinstance(raw, str) and _EXPRESSION in raw):
        return raw
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    raise _Problem((*where, "max-parallel"), "max-parallel must be a positive integer")


def _outputs(raw: Any, where: Where) -> dict[str, str]:
    outputs = _mapping(raw, where, "outputs")
    return {str(k): _text(v, (*where, k), f"output {k}") for k, v in outputs.items()}


def _steps(job: str, raw: Any, where: Where) -> tuple[StepSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise _Problem(where, f"job '{job}' must have at least one step in `steps`")
    steps = tuple(_step(job, i + 1, item, (*where, i)) for i, item in enumerate(raw))
    seen: set[str] = set()
    for step in steps:
        if step.id is not None and step.id in seen:
            raise _Problem(
                (*where, step.number - 1, "id"),
                f"The identifier '{step.id}' may not be used more than once within the same "
                "scope.",
            )
        seen.add(step.id or "")
    return steps


def _step(job: str, number: int, raw: Any, where: Where) -> StepSpec:
    owner = f"step {number} of job '{job}'"
    step = _mapping(raw, where, owner)
    _only_keys(step, _STEP_KEYS, where)
    if ("run" in step) == ("uses" in step):
        both = "both" if "run" in step else "neither"
        raise _Problem(where, f"{owner} has {both} `run` and `uses`: a step needs exactly one")
    step_id = _optional_text(step.get("id"), (*where, "id"), "id")
    if step_id is not None:
        _check_id(step_id, (*where, "id"))
    shell = _optional_text(step.get("shell"), (*where, "shell"), "shell")
    if shell is not None:
        _check_shell(shell, (*where, "shell"), owner)
    return StepSpec(
        number=number,
        id=step_id,
        name=_optional_text(step.get("name"), (*where, "name"), "name"),
        run=_optional_text(step.get("run"), (*where, "run"), "run"),
        uses=_optional_text(step.get("uses"), (*where, "uses"), "uses"),
        shell=shell,
        env=_env(step.get("env"), (*where, "env")),
        working_directory=_optional_text(
            step.get("working-directory"), (*where, "working-directory"), "working-directory"
        ),
        if_=_condition(step.get("if"), (*where, "if")),
        continue_on_error=_flag(step.get("continue-on-error"), where, "continue-on-error", False),
        timeout_minutes=_minutes(step.get("timeout-minutes"), (*where, "timeout-minutes")),
    )


def _check_needs(jobs: Mapping[str, JobSpec], where: Where) -> None:
    for job in jobs.values():
        for need in job.needs:
            if need not in jobs:
                raise _Problem(
                    (*where, job.key, "needs"), f"Job '{job.key}' depends on unknown job '{need}'."
                )
    done: set[str] = set()
    for key in jobs:
        _visit(key, jobs, (), done, where)


def _visit(key: str, jobs: Mapping[str, JobSpec], path: tuple[str, ...], done: set[str],
           where: Where) -> None:
    if key in path:
        cycle = " -> ".join((*path[path.index(key) :], key))
        raise _Problem(
            (*where, path[-1], "needs"),
            f"Job '{path[-1]}' depends on job '{key}', which creates a cycle in the dependency "
            f"graph ({cycle}).",
        )
    if key in done:
        return
    for need in jobs[key].needs:
        _visit(need, jobs, (*path, key), done, where)
    done.add(key)


def refuse_uses(workflow: Workflow) -> None:
    """Refuse action steps: runnerhub's agent runs shell commands, not actions."""
    for job in workflow.jobs.values():
        for step in job.steps:
            if step.uses is not None:
                raise WorkflowError(
                    _message(
                        workflow.path,
                        None,
                        f"step {step.number} of job '{job.key}' uses an action ({step.uses}): "
                        "runnerhub runs `run:` steps only",
                    )
                )


# ---------------------------------------------------------------------------------------------
# Matrices.


def expand_matrix(matrix: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The combinations a resolved `strategy.matrix` gives, in GitHub's order: the product of
    the vectors (first key slowest), less `exclude` (partial matches), then `include`. No
    matrix is one combination with no values."""
    if matrix is None:
        return [{}]
    if not isinstance(matrix, Mapping):
        raise WorkflowError("strategy.matrix must be a mapping")
    vectors = _vectors(matrix)
    exclude, include = _entries(matrix, "exclude", vectors), _entries(matrix, "include", None)
    if not vectors and not include:
        raise WorkflowError("Matrix must define at least one vector")
    kept = [combo for combo in _product(vectors) if not any(_partial(e, combo) for e in exclude)]
    combos = _include(kept, include)
    _check_size(len(combos))
    if not combos:
        raise WorkflowError("Matrix configuration produces no jobs: every combination is excluded")
    return combos


def _vectors(matrix: Mapping[str, Any]) -> dict[str, list[Any]]:
    vectors = {}
    for key, values in matrix.items():
        if key in ("include", "exclude"):
            continue
        if not isinstance(values, list):
            raise WorkflowError(f"Matrix vector '{key}' must be a list of values")
        if not values:
            raise WorkflowError(f"Matrix vector '{key}' does not contain any values")
        vectors[str(key)] = values
    return vectors


def _entries(
    matrix: Mapping[str, Any], key: str, vectors: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The `include` or `exclude` list; exclude keys must name vectors (`vectors` given)."""
    entries = matrix.get(key) or []
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise WorkflowError(f"Matrix {key} must be a list of mappings")
    for name in (k for entry in entries for k in entry):
        if vectors is not None and name not in vectors:
            raise WorkflowError(
                f"Matrix {key} key '{name}' does not match any key within the matrix"
            )
    return [dict(entry) for entry in entries]


def _product(vectors: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    if not vectors:
        return []
    # Counted before building, so a huge matrix is refused without being built.
    _check_size(math.prod(len(values) for values in vectors.values()))
    combos = itertools.product(*vectors.values())
    return [dict(zip(vectors, combo, strict=True)) for combo in combos]


def _check_size(size: int) -> None:
    if size > MAX_MATRIX_JOBS:
        raise WorkflowError(
            f"Strategy matrix would produce {size} jobs; the maximum is {MAX_MATRIX_JOBS}"
        )


def _partial(pattern: Any, value: Any) -> bool:
    """`pattern` matches `value`, where mappings in the pattern need only some of the keys."""
    if isinstance(pattern, Mapping):
        return isinstance(value, Mapping) and all(
            k in value and _partial(v, value[k]) for k, v in pattern.items()
        )
    return bool(pattern == value)


def _include(combos: list[dict[str, Any]], include: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # An include extends every combination whose original values it leaves unchanged (values
    # added by earlier includes may be overwritten); when it fits none, it is a new combination.
    # Combinations added this way are not extended by later includes, as on GitHub.
    extended = [dict(combo) for combo in combos]
    for entry in include:
        fits = [
            i for i, original in enumerate(combos)
            if all(k not in original or original[k] == v for k, v in entry.items())
        ]  # fmt: skip
        for i in fits:
            extended[i].update(entry)
        if not fits:
            extended.append(dict(entry))
    return extended


# ---------------------------------------------------------------------------------------------
# Branch filters.


def branch_matches(
    branches: Sequence[str] | None, branches_ignore: Sequence[str] | None, branch: str
) -> bool:
    """Whether a push to `branch` (no `refs/heads/`) passes `branches` / `branches-ignore`.
    Patterns are read in order and a later `!pattern` undoes earlier matches."""
    if branches is not None:
        return _matches_any(branches, branch)
    if branches_ignore is not None:
        return not _matches_any(branches_ignore, branch)
    return True


def _matches_any(patterns: Sequence[str], name: str) -> bool:
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern(pattern[1:] if negated else pattern).fullmatch(name):
            matched = not negated
    return matched


@functools.lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern as a regex: `*` any run without '/', `**` any run, `?` and `+`
    zero-or-one and one-or-more of the preceding character, `[...]` a set or range, `\\` a
    literal next character."""
    parts: list[str] = []
    quantifiable = False  # `?` and `+` apply to a preceding character or set only
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if pattern.startswith("**", at):
            parts.append(".*")
            at, quantifiable = at + 2, False
            continue
        if char == "*":
            parts.append("[^/]*")
            quantifiable = False
        elif char in "?+" and quantifiable:
            parts.append(char)
            quantifiable = False
        elif char == "[" and (close := pattern.find("]", at + 1)) > at + 1:
            parts.append("[" + re.escape(pattern[at + 1 : close]).replace("\\-", "-") + "]")
            at, quantifiable = close + 1, True
            continue
        elif char == "\\" and at + 1 < len(pattern):
            parts.append(re.escape(pattern[at + 1]))
            at, quantifiable = at + 2, True
            continue
        else:
            parts.append(re.escape(char))
            quantifiable = True
        at += 1
    return re.compile("".join(parts))


# ---------------------------------------------------------------------------------------------
# Dispatch inputs.

_UNSET_INPUT: dict[str, Any] = {
    "string": "", "choice": "", "environment": "", "boolean": False, "number": 0,
}  # fmt: skip


def check_inputs(inputs: Mapping[str, Input], given: Mapping[str, Any]) -> dict[str, Any]:
    """The `inputs` context of a workflow_dispatch: `given` checked against the declared inputs,
    defaults filled in. Values are typed as GitHub's `inputs` context types them: booleans are
    bool (given as true/false or 'true'/'false'), numbers int or float, the rest str. An input
    neither given nor defaulted is '' (false for a boolean, 0 for a number), as on GitHub."""
    unexpected = [name for name in given if name not in inputs]
    if unexpected:
        raise WorkflowError(f"Unexpected inputs provided: {json.dumps(unexpected)}")
    return {name: _input_value(spec, given.get(name)) for name, spec in inputs.items()}


def _input_value(spec: Input, raw: Any) -> Any:
    if raw is None or raw == "":
        if spec.default is not None:
            return spec.default
        if spec.required:
            raise WorkflowError(f"Required input '{spec.name}' not provided")
        return _UNSET_INPUT[spec.type]
    return _typed_input(spec, raw)


def _typed_input(spec: Input, raw: Any) -> str | bool | int | float:
    if isinstance(raw, dict | list):
        raise WorkflowError(f"Provided value for input '{spec.name}' must be a string")
    if spec.type == "boolean":
        return _boolean_input(spec, raw)
    if spec.type == "number":
        return _number_input(spec, raw)
    text = raw if isinstance(raw, str) else json.dumps(raw)
    if spec.type == "choice" and text not in spec.options:
        raise WorkflowError(
            f"Provided value '{text}' for input '{spec.name}' not in the list of allowed values"
        )
    return text


def _boolean_input(spec: Input, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise WorkflowError(f"Provided value '{raw}' for input '{spec.name}' is not a valid boolean")


def _number_input(spec: Input, raw: Any) -> int | float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw):
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"\s*-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*", raw):
        return float(raw)
    raise WorkflowError(f"Provided value '{raw}' for input '{spec.name}' is not a valid number")
