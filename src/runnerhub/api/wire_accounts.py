"""Users, organizations and repositories, in the full shapes clients fetch on their way to
the runner endpoints (PyGithub reads an organization before listing its runners)."""

from __future__ import annotations

import base64
from typing import Any

from runnerhub.api.wire import timestamp
from runnerhub.domain.profiles import Account, Repository


def node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def simple_user(row: Account, api: str, web: str) -> dict[str, Any]:
    login = row.login
    kind = "users" if row.type == "User" else "orgs"
    base = f"{api}/users/{login}"
    return {
        "login": login,
        "id": row.id,
        "node_id": node_id("User" if row.type == "User" else "Organization", row.id),
        "avatar_url": f"{web}/avatars/{login}",
        "gravatar_id": "",
        "url": base if kind == "users" else f"{api}/users/{login}",
        "html_url": f"{web}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": row.type,
        "site_admin": bool(row.site_admin),
        "user_view_type": "public",
    }


def user(row: Account, api: str, web: str, *, private: bool) -> dict[str, Any]:
    body = simple_user(row, api, web)
    created = timestamp(row.created_at)
    body |= {
        "name": row.name,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": row.public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": created,
        "updated_at": created,
    }
    if private:
        body |= {
            "user_view_type": "private",
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": False,
        }
    return body


def organization_simple(row: Account, api: str, web: str) -> dict[str, Any]:
    """An organization as others name it (GitHub's `organization-simple`: webhook payloads,
    lists)."""
    base = f"{api}/orgs/{row.login}"
    return {
        "login": row.login,
        "id": row.id,
        "node_id": node_id("Organization", row.id),
        "url": base,
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events",
        "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues",
        "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"{web}/avatars/{row.login}",
        "description": None,
    }


def organization(row: Account, api: str, web: str) -> dict[str, Any]:
    """`blog` is left out: the official schema has it a non-null URI, so neither "" nor
    null would be valid for an organization without one (docs/api-choices.md)."""
    login = row.login
    created = timestamp(row.created_at)
    return {
        **organization_simple(row, api, web),
        "name": row.name or login,
        "is_verified": False,
        "has_organization_projects": False,
        "has_repository_projects": False,
        "public_repos": row.public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "html_url": f"{web}/{login}",
        "type": "Organization",
        "created_at": created,
        "updated_at": created,
        "archived_at": None,
    }


_REPO_LINKS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(row: Repository, api: str, web: str) -> dict[str, Any]:
    owner = row.owner
    full_name = f"{owner.login}/{row.name}"
    base = f"{api}/repos/{full_name}"
    created = timestamp(row.created_at)
    host = web.split("://", 1)[-1]
    body: dict[str, Any] = {
        "id": row.id,
        "node_id": node_id("Repository", row.id),
        "name": row.name,
        "full_name": full_name,
        "owner": simple_user(owner, api, web),
        "private": bool(row.private),
        "visibility": "private" if row.private else "public",
        "html_url": f"{web}/{full_name}",
        "description": None,
        "fork": False,
        "url": base,
        **{key: base + suffix for key, suffix in _REPO_LINKS.items()},
        "clone_url": f"{web}/{full_name}.git",
        "git_url": f"git://{host}/{full_name}.git",
        "ssh_url": f"git@{host}:{full_name}.git",
        "svn_url": f"{web}/{full_name}",
        "mirror_url": None,
        "homepage": None,
        "language": None,
        "default_branch": "main",
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "size": 0,
        "open_issues": 0,
        "open_issues_count": 0,
        "network_count": 0,
        "subscribers_count": 0,
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "license": None,
        "topics": [],
        "pushed_at": created,
        "created_at": created,
        "updated_at": created,
    }
    if row.permissions is not None:
        body["permissions"] = row.permissions
    return body


# GitHub's index of URL templates (`GET /`), relative to the API root; the
# `current_user_authorizations_html_url` entry is relative to the web root. Every entry the
# official schema requires is here; those outside the runner API lead to 404 on runnerhub.
_ROOT = {
    "current_user_url": "/user",
    "authorizations_url": "/authorizations",
    "code_search_url": "/search/code?q={query}{&page,per_page,sort,order}",
    "commit_search_url": "/search/commits?q={query}{&page,per_page,sort,order}",
    "emails_url": "/user/emails",
    "emojis_url": "/emojis",
    "events_url": "/events",
    "feeds_url": "/feeds",
    "followers_url": "/user/followers",
    "following_url": "/user/following{/target}",
    "gists_url": "/gists{/gist_id}",
    "issue_search_url": "/search/issues?q={query}{&page,per_page,sort,order}",
    "issues_url": "/issues",
    "keys_url": "/user/keys",
    "label_search_url": ("/search/labels?q={query}&repository_id={repository_id}{&page,per_page}"),
    "notifications_url": "/notifications",
    "organization_url": "/orgs/{org}",
    "organization_repositories_url": "/orgs/{org}/repos{?type,page,per_page,sort}",
    "organization_teams_url": "/orgs/{org}/teams",
    "public_gists_url": "/gists/public",
    "rate_limit_url": "/rate_limit",
    "repository_url": "/repos/{owner}/{repo}",
    "repository_search_url": "/search/repositories?q={query}{&page,per_page,sort,order}",
    "current_user_repositories_url": "/user/repos{?type,page,per_page,sort}",
    "starred_url": "/user/starred{/owner}{/repo}",
    "starred_gists_url": "/gists/starred",
    "user_url": "/users/{user}",
    "user_organizations_url": "/user/orgs",
    "user_repositories_url": "/users/{user}/repos{?type,page,per_page,sort}",
    "user_search_url": "/search/users?q={query}{&page,per_page,sort,order}",
}


def root(api_url: str, web_url: str) -> dict[str, str]:
    body = {
        "current_user_authorizations_html_url": (
            f"{web_url}/settings/connections/applications{{/client_id}}"
        ),
    }
    body.update({key: api_url + path for key, path in _ROOT.items()})
    return body
