"""Environments, their protection rules, pending deployments and deployments, in GitHub's
shapes (`environment`, `pending-deployment`, `deployment`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from runnerhub.api.wire import timestamp
from runnerhub.api.wire_accounts import node_id, simple_user
from runnerhub.api.wire_actions import Site
from runnerhub.domain.environments import Deployment, Environment, PendingDeployment

# A rule is not a row of its own here: its id is the environment's with a digit added.
WAIT_TIMER_RULE, REVIEWERS_RULE = 1, 2


def environment(e: Environment, site: Site) -> dict[str, Any]:
    return {**_summary(e, site), "created_at": timestamp(e.created_at),
            "updated_at": timestamp(e.updated_at), "protection_rules": _rules(e, site),
            "deployment_branch_policy": None}  # fmt: skip


def environments(found: list[Environment], total: int, site: Site) -> dict[str, Any]:
    return {"total_count": total, "environments": [environment(e, site) for e in found]}


def _summary(e: Environment, site: Site) -> dict[str, Any]:
    return {
        "id": e.id,
        "node_id": node_id("Environment", e.id),
        "name": e.name,
        "url": f"{site.repo_api}/environments/{quote(e.name, safe='')}",
        "html_url": f"{site.repo_web}/deployments/activity_log?environments_filter="
        f"{quote(e.name, safe='')}",
    }


def _rules(e: Environment, site: Site) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    if e.wait_timer:
        rule_id = e.id * 10 + WAIT_TIMER_RULE
        rules.append({"id": rule_id, "node_id": node_id("ProtectionRule", rule_id),
                      "type": "wait_timer", "wait_timer": e.wait_timer})  # fmt: skip
    if e.reviewers:
        rule_id = e.id * 10 + REVIEWERS_RULE
        rules.append({"id": rule_id, "node_id": node_id("ProtectionRule", rule_id),
                      "type": "required_reviewers", "prevent_self_review": e.prevent_self_review,
                      "reviewers": _reviewers(e, site)})  # fmt: skip
    return rules


def _reviewers(e: Environment, site: Site) -> list[dict[str, Any]]:
    return [{"type": r.type, "reviewer": simple_user(r.account, site.api, site.web)}
            for r in e.reviewers]  # fmt: skip


def pending_deployment(p: PendingDeployment, site: Site) -> dict[str, Any]:
    started = p.wait_timer_started_at
    return {
        "environment": _summary(p.environment, site),
        "wait_timer": p.environment.wait_timer,
        "wait_timer_started_at": timestamp(started) if started else None,
        "current_user_can_approve": p.current_user_can_approve,
        "reviewers": _reviewers(p.environment, site),
    }


def deployment(d: Deployment, site: Site) -> dict[str, Any]:
    url = f"{site.repo_api}/deployments/{d.id}"
    return {
        "url": url,
        "id": d.id,
        "node_id": node_id("Deployment", d.id),
        "sha": d.sha,
        "ref": d.ref,
        "task": "deploy",
        "payload": {},
        "original_environment": d.environment,
        "environment": d.environment,
        "description": None,
        "creator": simple_user(d.creator, site.api, site.web) if d.creator else None,
        "created_at": timestamp(d.created_at),
        "updated_at": timestamp(d.created_at),
        "statuses_url": f"{url}/statuses",
        "repository_url": site.repo_api,
        "transient_environment": False,
        "production_environment": False,
        "performed_via_github_app": None,
    }
