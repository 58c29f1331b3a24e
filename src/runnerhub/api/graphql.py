"""GitHub's GraphQL API, the part clients ask for on their way to the runners: who am I, a
repository with its default branch and the caller's permission, its pull requests (runnerhub
has none), users and organizations. `gh` asks it for `gh auth status` and for the default
branch of `gh workflow run` without `--ref`.

Served at POST /graphql (api.github.com) and POST /api/graphql (GHES), never under /api/v3.
These two operations are not REST: they are marked `rest=False`, mounted at their own paths
only and left out of the check against GitHub's OpenAPI descriptions.

As on GitHub: authentication is required (401 before anything runs); a query that does not
parse, validate or resolve answers 200 with `errors`; a repository the caller may not see
does not exist (NOT_FOUND). Each request costs one unit of the caller's REST budget.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import DocumentNode, Lexer

from runnerhub.api.bodies import json_object
from runnerhub.api.incoming import storable
from runnerhub.api.operations import Call, Operation, Reply
from runnerhub.api.wire import timestamp
from runnerhub.api.wire_accounts import node_id
from runnerhub.auth.permissions import GRAPHQL
from runnerhub.domain import profiles
from runnerhub.domain.contents import DEFAULT_BRANCH
from runnerhub.domain.profiles import Account, Repository
from runnerhub.errors import BadRequest, NotFound

T = TypeVar("T")

GRAPHQL_DOCS = "https://docs.github.com/graphql"
MAX_DEPTH = 15  # fields nested in fields, fragments expanded
MAX_NESTING = 64  # braces, brackets and parentheses as written, checked before parsing
MAX_TOKENS = 5_000  # gh's largest queries have a few hundred
MAX_SELECTIONS = 10_000  # selections visited with fragments expanded (F { ...G ...G } ...)
NO_QUERY = "A query attribute must be specified and must be a string."

SDL = """
scalar DateTime
scalar URI

interface Node { id: ID! }

interface RepositoryOwner {
  id: ID!
  login: String!
  url: URI!
  resourcePath: URI!
  avatarUrl(size: Int): URI!
}

type Query {
  viewer: User!
  user(login: String!): User
  organization(login: String!): Organization
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
}

type User implements Node & RepositoryOwner {
  id: ID!
  databaseId: Int
  login: String!
  name: String
  url: URI!
  resourcePath: URI!
  avatarUrl(size: Int): URI!
  createdAt: DateTime!
}

type Organization implements Node & RepositoryOwner {
  id: ID!
  databaseId: Int
  login: String!
  name: String
  url: URI!
  resourcePath: URI!
  avatarUrl(size: Int): URI!
  createdAt: DateTime!
}

enum RepositoryPermission { ADMIN MAINTAIN WRITE TRIAGE READ }
enum RepositoryVisibility { INTERNAL PRIVATE PUBLIC }
enum PullRequestState { CLOSED MERGED OPEN }
enum IssueOrderField { COMMENTS CREATED_AT UPDATED_AT }
enum OrderDirection { ASC DESC }
input IssueOrder { field: IssueOrderField! direction: OrderDirection! }

type Repository implements Node {
  id: ID!
  databaseId: Int
  name: String!
  nameWithOwner: String!
  owner: RepositoryOwner!
  description: String
  url: URI!
  resourcePath: URI!
  isPrivate: Boolean!
  visibility: RepositoryVisibility!
  isFork: Boolean!
  isArchived: Boolean!
  isEmpty: Boolean!
  hasIssuesEnabled: Boolean!
  hasWikiEnabled: Boolean!
  hasProjectsEnabled: Boolean!
  mergeCommitAllowed: Boolean!
  rebaseMergeAllowed: Boolean!
  squashMergeAllowed: Boolean!
  viewerPermission: RepositoryPermission
  defaultBranchRef: Ref
  parent: Repository
  createdAt: DateTime!
  pushedAt: DateTime
  updatedAt: DateTime!
  pullRequests(
    states: [PullRequestState!], labels: [String!], headRefName: String,
    baseRefName: String, orderBy: IssueOrder, after: String, before: String,
    first: Int, last: Int
  ): PullRequestConnection!
}

type Ref implements Node {
  id: ID!
  name: String!
  prefix: String!
}

type PullRequest implements Node {
  id: ID!
  number: Int!
  title: String!
  url: URI!
  state: PullRequestState!
  headRefName: String!
  baseRefName: String!
  isCrossRepository: Boolean!
  headRepository: Repository
  headRepositoryOwner: RepositoryOwner
}

type PullRequestConnection {
  nodes: [PullRequest]
  edges: [PullRequestEdge]
  pageInfo: PageInfo!
  totalCount: Int!
}

type PullRequestEdge { cursor: String! node: PullRequest }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}
"""

SCHEMA = build_schema(SDL)


class Unresolvable(Exception):
    """What a query names does not exist, or the caller may not see it: GitHub's NOT_FOUND."""


# -- resolvers: the root's methods; below it, plain values (dicts, by GraphQL field name)


class Root:
    def viewer(self, info: GraphQLResolveInfo[Call]) -> dict[str, Any]:
        call = info.context
        assert call.principal is not None, "declared GRAPHQL: authenticated"
        return _account(profiles.user_by_id(call.uow, call.principal.user_id), call.web_url)

    def user(self, info: GraphQLResolveInfo[Call], login: str) -> dict[str, Any]:
        missing = Unresolvable(f"Could not resolve to a User with the login of '{login}'.")
        found = _looked_up(lambda: profiles.user(info.context.uow, login), missing, login)
        if found.type != "User":
            raise missing
        return _account(found, info.context.web_url)

    def organization(self, info: GraphQLResolveInfo[Call], login: str) -> dict[str, Any]:
        missing = Unresolvable(f"Could not resolve to an Organization with the login of '{login}'.")
        found = _looked_up(lambda: profiles.organization(info.context.uow, login), missing, login)
        return _account(found, info.context.web_url)

    def repository(
        self, info: GraphQLResolveInfo[Call], owner: str, name: str, followRenames: bool = True
    ) -> dict[str, Any]:
        call = info.context
        missing = Unresolvable(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        found = _looked_up(
            lambda: profiles.repository(call.uow, call.principal, owner, name), missing, owner, name
        )
        return _repository(found, call.web_url)


def _looked_up(find: Callable[[], T], missing: Unresolvable, *names: str) -> T:
    if not all(storable(name) for name in names):  # NUL: nothing has that name
        raise missing
    try:
        return find()
    except NotFound:
        raise missing from None


def _account(row: Account, web: str) -> dict[str, Any]:
    return {
        "__typename": row.type,
        "id": node_id(row.type, row.id),
        "databaseId": row.id,
        "login": row.login,
        "name": row.name,
        "url": f"{web}/{row.login}",
        "resourcePath": f"/{row.login}",
        "avatarUrl": lambda info, size=None: f"{web}/avatars/{row.login}",
        "createdAt": timestamp(row.created_at),
    }


# The caller's permission, from the REST `permissions` block, strongest first.
_PERMISSION_NAMES = (("admin", "ADMIN"), ("maintain", "MAINTAIN"), ("push", "WRITE"),
                     ("triage", "TRIAGE"), ("pull", "READ"))  # fmt: skip


def _repository(row: Repository, web: str) -> dict[str, Any]:
    full_name = f"{row.owner.login}/{row.name}"
    granted = row.permissions or {}
    created = timestamp(row.created_at)
    return {
        "id": node_id("Repository", row.id),
        "databaseId": row.id,
        "name": row.name,
        "nameWithOwner": full_name,
        "owner": _account(row.owner, web),
        "description": None,
        "url": f"{web}/{full_name}",
        "resourcePath": f"/{full_name}",
        "isPrivate": row.private,
        "visibility": "PRIVATE" if row.private else "PUBLIC",
        "isFork": False,
        "isArchived": False,
        "isEmpty": False,
        # As the REST body says: has_issues true, has_wiki and has_projects false.
        "hasIssuesEnabled": True,
        "hasWikiEnabled": False,
        "hasProjectsEnabled": False,
        "mergeCommitAllowed": True,
        "rebaseMergeAllowed": True,
        "squashMergeAllowed": True,
        "viewerPermission": next((v for k, v in _PERMISSION_NAMES if granted.get(k)), None),
        "defaultBranchRef": _branch(row.id, DEFAULT_BRANCH),
        "parent": None,
        "createdAt": created,
        "pushedAt": created,
        "updatedAt": created,
        "pullRequests": _no_pull_requests,
    }


def _branch(repo_id: int, name: str) -> dict[str, Any]:
    ref_id = base64.b64encode(f"Ref:{repo_id}:refs/heads/{name}".encode()).decode()
    return {"id": ref_id.rstrip("="), "name": name, "prefix": "refs/heads/"}


def _no_pull_requests(info: GraphQLResolveInfo[Call], **filters: Any) -> dict[str, Any]:
    # runnerhub hosts no pull requests: every filter selects none, as for a repository without.
    empty_page = {"hasNextPage": False, "hasPreviousPage": False}
    return {"nodes": [], "edges": [], "pageInfo": empty_page, "totalCount": 0}


# -- the request: a JSON body, bounded, parsed, validated and executed


def serve(call: Call) -> Reply:
    query, variables, operation_name = _request(call.body)
    try:
        document = _parsed(query)
        errors = validate(SCHEMA, document) or _too_deep(document)
    except GraphQLError as error:
        return Reply({"errors": [_shown(error)]})
    if errors:
        return Reply({"errors": [_shown(error) for error in errors]})
    result = execute_sync(SCHEMA, document, Root(), call, variables, operation_name)
    return Reply(_body(result))


def _request(raw: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    body = json_object(raw)
    query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise BadRequest(NO_QUERY)
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("Variables must be a JSON object.")
    if name is not None and not isinstance(name, str):
        raise BadRequest("operationName must be a string.")
    return query, variables, name


def _parsed(query: str) -> DocumentNode:
    """Parsing recurses once per level of nesting: the nesting is counted on the tokens
    first (the lexer does not recurse), so that no query can exhaust the stack."""
    source = Source(query)
    lexer, depth = Lexer(source), 0
    opening = (TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L)
    closing = (TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R)
    for _ in range(MAX_TOKENS + 1):
        token = lexer.advance()
        if token.kind is TokenKind.EOF:
            break
        depth += 1 if token.kind in opening else -1 if token.kind in closing else 0
        if depth > MAX_NESTING:
            raise GraphQLError(f"Query is nested deeper than {MAX_NESTING} levels.")
    return parse(source, max_tokens=MAX_TOKENS)


def _too_deep(document: DocumentNode) -> list[GraphQLError]:
    """graphql-ruby's max_depth, as GitHub applies it: fields within fields, through
    fragments. Walked without recursion, and bounded in work (fragments spread twice in
    each other double at every level)."""
    fragments = {
        d.name.value: d.selection_set
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    pending: list[tuple[SelectionSetNode, int]] = [
        (d.selection_set, 0) for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    deepest = visited = 0
    while pending:
        selections, depth = pending.pop()
        for selection in selections.selections:
            visited += 1
            if isinstance(selection, FieldNode):
                deepest = max(deepest, depth + 1)
                if selection.selection_set is not None:
                    pending.append((selection.selection_set, depth + 1))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, depth))
            elif isinstance(selection, FragmentSpreadNode):
                pending.append((fragments[selection.name.value], depth))
        if deepest > MAX_DEPTH:
            return [
                GraphQLError(
                    f"Query has depth of {deepest}, which exceeds max depth of {MAX_DEPTH}"
                )
            ]
        if visited > MAX_SELECTIONS:
            return [GraphQLError(f"Query has more than {MAX_SELECTIONS} selections.")]
    return []


def _body(result: ExecutionResult) -> dict[str, Any]:
    for error in result.errors or ():
        original = error.original_error
        if original is not None and not isinstance(original, Unresolvable | GraphQLError):
            raise original  # a fault, not the query's: rolled back, 500, logged by endpoint()
    # No data at all when the request failed before executing (a variable's bad value).
    body: dict[str, Any] = {} if result.data is None else {"data": result.data}
    if result.errors:
        body["errors"] = [_shown(error) for error in result.errors]
    return body


def _shown(error: GraphQLError) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if isinstance(error.original_error, Unresolvable):
        shown["type"] = "NOT_FOUND"  # gh reads `type`, at the top of the error as GitHub has it
    shown.update(error.formatted)
    return shown


OPERATIONS = tuple(
    Operation("POST", path, serve, GRAPHQL, "graphql", docs_url=GRAPHQL_DOCS, reads_only=True,
              rest=False)
    for path in ("/graphql", "/api/graphql")
)  # fmt: skip
