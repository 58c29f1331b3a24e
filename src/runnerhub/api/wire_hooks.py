"""Webhooks, their deliveries, and the payloads sent, in GitHub's shapes.

The secret is never shown: a hook with one answers `"secret": "********"`. Payloads are
rendered once per delivery (then kept, so a redelivery resends the same body) with the URLs
under the public URL: a delivery has no request to take a root from.
"""

from __future__ import annotations

from typing import Any

from runnerhub.api.wire import timestamp
from runnerhub.api.wire_accounts import node_id, organization_simple, simple_user
from runnerhub.api.wire_actions import Site, job, minimal_repository, run, workflow
from runnerhub.domain import hook_events, webhooks
from runnerhub.domain.hook_delivery import Taken
from runnerhub.domain.profiles import Account
from runnerhub.domain.scopes import ScopeKind
from runnerhub.domain.webhooks import Delivery, Enterprise, Hook, PayloadContext
from runnerhub.storage.unit_of_work import UnitOfWork

MASK = "********"
ZEN = "Keep it logically awesome."


def config(h: Hook) -> dict[str, Any]:
    body: dict[str, Any] = {"content_type": h.content_type, "insecure_ssl": h.insecure_ssl,
                            "url": h.url}  # fmt: skip
    if h.has_secret:
        body["secret"] = MASK
    return body


def hook(h: Hook, url: str) -> dict[str, Any]:
    """`url`: the hook's own API URL (…/repos/o/r/hooks/1 or …/orgs/o/hooks/1)."""
    body: dict[str, Any] = {
        "type": "Repository" if h.kind is ScopeKind.REPOSITORY else "Organization",
        "id": h.id,
        "name": "web",
        "active": h.active,
        "events": h.events,
        "config": config(h),
        "updated_at": timestamp(h.updated_at),
        "created_at": timestamp(h.created_at),
        "url": url,
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
    }
    if h.kind is ScopeKind.REPOSITORY:
        body["test_url"] = f"{url}/test"
        body["last_response"] = {"code": h.last_code, "status": h.last_status,
                                 "message": h.last_message}  # fmt: skip
    return body


def delivery_item(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "guid": d.guid,
        "delivered_at": timestamp(d.delivered_at),
        "redelivery": d.redelivery,
        "duration": d.duration,
        "status": d.status,
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": None,
        "repository_id": d.repository_id,
        "throttled_at": None,
    }


def delivery(d: Delivery, url: str) -> dict[str, Any]:
    return {
        **delivery_item(d),
        "url": url,
        "request": {"headers": d.request_headers, "payload": d.payload},
        "response": {"headers": d.response_headers, "payload": d.response_body},
    }


# -- payloads


def render(api: str, web: str) -> Any:
    """The deliverer's renderer for a server whose public URL is `web` (API root `api`)."""

    def rendered(uow: UnitOfWork, taken: Taken) -> dict[str, Any]:
        context = webhooks.payload_context(uow, taken.hook_id, taken.subject)
        return payload(context, taken, api, web)

    return rendered


def payload(context: PayloadContext, taken: Taken, api: str, web: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if taken.action is not None:
        body["action"] = taken.action
    site = Site(api, web, context.repository) if context.repository is not None else None
    if taken.event == "ping":
        body.update(zen=ZEN, hook_id=context.hook.id,
                    hook=hook(context.hook, f"{api}{context.hook_path}"))  # fmt: skip
    elif taken.event == "workflow_job" and site is not None:
        body["workflow_job"] = job(hook_events.job_from(taken.subject["job"]), site)
    elif taken.event == "workflow_run" and site is not None and context.run is not None:
        body.update(_run(context, taken.subject, site))
    if site is not None:
        body["repository"] = _repository(site)
    if context.organization is not None:
        body["organization"] = organization_simple(context.organization, api, web)
    if context.enterprise is not None and taken.event != "ping":  # GitHub's ping has none
        body["enterprise"] = enterprise(context.enterprise, web)
    if context.sender is not None:
        body["sender"] = _user(context.sender, api, web)
    return body


def _run(context: PayloadContext, subject: dict[str, Any], site: Site) -> dict[str, Any]:
    assert context.run is not None
    assert context.workflow is not None
    actor = context.sender
    shown = run(context.run, site, actor)
    # The run as it was when the event was raised, not as it is when first sent.
    for key in ("status", "conclusion", "run_attempt"):
        shown[key] = subject[key]
    for key in ("updated_at", "run_started_at"):
        moment = hook_events.moment(subject.get(key))
        if moment is not None:
            shown[key] = timestamp(moment)
    shown.pop("head_repository_id", None)
    for key in ("repository", "head_repository"):
        shown[key] = _lite(shown[key])
    for key in ("actor", "triggering_actor"):
        shown[key] = _plain(shown.get(key))
    return {"workflow_run": shown, "workflow": workflow(context.workflow, site)}


# In webhook payloads, GitHub's repository carries these and not the counts only its REST
# answer has (@octokit/webhooks-schemas refuses any property it does not list).
REPOSITORY_EXTRA = {"has_downloads": True, "is_template": False, "custom_properties": {},
                    "web_commit_signoff_required": False}  # fmt: skip
REST_ONLY = ("network_count", "subscribers_count")
# What a workflow run's `repository` and `head_repository` hold in a payload.
REPOSITORY_LITE = frozenset(
    [
        "archive_url", "assignees_url", "blobs_url", "branches_url", "collaborators_url",
        "comments_url", "commits_url", "compare_url", "contents_url", "contributors_url",
        "deployments_url", "description", "downloads_url", "events_url", "fork",
        "forks_url", "full_name", "git_commits_url", "git_refs_url", "git_tags_url",
        "hooks_url", "html_url", "id", "issue_comment_url", "issue_events_url",
        "issues_url", "keys_url", "labels_url", "languages_url", "merges_url",
        "milestones_url", "name", "node_id", "notifications_url", "owner", "private",
        "pulls_url", "releases_url", "stargazers_url", "statuses_url", "subscribers_url",
        "subscription_url", "tags_url", "teams_url", "trees_url", "url"
    ]
)  # fmt: skip


def _repository(site: Site) -> dict[str, Any]:
    body = {**minimal_repository(site), **REPOSITORY_EXTRA}
    for key in REST_ONLY:
        body.pop(key, None)
    body["owner"] = _plain(body["owner"])
    return body


def _lite(repository: dict[str, Any]) -> dict[str, Any]:
    lite = {k: v for k, v in repository.items() if k in REPOSITORY_LITE}
    return {**lite, "owner": _plain(lite["owner"])}


def _plain(user: dict[str, Any] | None) -> dict[str, Any] | None:
    """A user as webhooks show one: without REST's `user_view_type`."""
    if user is None:
        return None
    return {k: v for k, v in user.items() if k != "user_view_type"}


def _user(account: Account, api: str, web: str) -> dict[str, Any] | None:
    return _plain(simple_user(account, api, web))


def enterprise(e: Enterprise, web: str) -> dict[str, Any]:
    """The organization's enterprise, as GitHub names it in a payload of the organization's."""
    return {
        "id": e.id,
        "slug": e.slug,
        "name": e.name,
        "node_id": node_id("Enterprise", e.id),
        "avatar_url": f"{web}/avatars/enterprises/{e.slug}",
        "description": None,
        "website_url": None,
        "html_url": f"{web}/enterprises/{e.slug}",
        "created_at": timestamp(e.created_at),
        "updated_at": timestamp(e.created_at),
    }
