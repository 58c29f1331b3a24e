"""Small factory functions that seed the real database through the domain layer.

Names carry a per-process counter, so tests sharing one server never collide.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from runnerhub.domain import accounts, scopes
from runnerhub.domain import labels as label_rules
from runnerhub.domain.scopes import Scope
from runnerhub.storage import runners
from runnerhub.storage.database import Database
from runnerhub.storage.tables import jobs
from runnerhub.storage.tables import runners as runners_table
from runnerhub.storage.unit_of_work import UnitOfWork

_counter = itertools.count(1)
_run = os.getpid()


def unique(prefix: str) -> str:
    return f"{prefix}-{_run}-{next(_counter)}"


@dataclass
class World:
    db: Database

    def now(self) -> datetime:
        return datetime.now(UTC)

    def user(self, prefix: str = "user") -> str:
        login = unique(prefix)
        self.db.transact(lambda uow: accounts.create_user(uow, login, self.now()))
        return login

    def enterprise(self, owner: str) -> str:
        slug = unique("ent")
        self.db.transact(lambda uow: accounts.create_enterprise(uow, slug, owner, self.now()))
        return slug

    def org(self, admin: str, *, enterprise: str | None = None, members: Sequence[str] = ()) -> str:
        login = unique("org")

        def work(uow: UnitOfWork) -> None:
            accounts.create_org(uow, login, admin, self.now(), enterprise=enterprise)
            for member in members:
                accounts.add_org_member(uow, login, member, "member")

        self.db.transact(work)
        return login

    def repo(
        self,
        owner: str,
        *,
        admin: str | None = None,
        private: bool = False,
        collaborators: Sequence[tuple[str, str]] = (),
    ) -> str:
        full_name = f"{owner}/{unique('repo')}"
        self.db.transact(
            lambda uow: accounts.create_repo(
                uow,
                full_name,
                self.now(),
                admin=admin,
                private=private,
                collaborators=tuple(collaborators),
            )
        )
        return full_name

    def token(
        self,
        login: str,
        *,
        scopes: Sequence[str] = (),
        permissions: Sequence[tuple[str, str]] = (),
        org: str | None = None,
        repos: Sequence[str] = (),
        expires_in: timedelta | None = None,
    ) -> str:
        request = accounts.TokenRequest(
            login=login,
            scopes=tuple(scopes),
            permissions=tuple(permissions),
            org=org,
            repos=tuple(repos),
        )
        token = self.db.transact(lambda uow: accounts.create_token(uow, request, self.now()))
        if expires_in is not None:
            self._expire(token, self.now() + expires_in)
        return token

    def _expire(self, token: str, when: datetime) -> None:
        from runnerhub.auth.secrets import hash_token
        from runnerhub.storage.tables import api_tokens

        self.db.write(
            lambda c: c.execute(
                api_tokens.update()
                .where(api_tokens.c.token_hash == hash_token(token))
                .values(expires_at=when)
            )
        )

    def scope(self, kind: str, name: str) -> Scope:
        def find(uow: UnitOfWork) -> Scope | None:
            if kind == "enterprise":
                return scopes.enterprise(uow, name)
            if kind == "org":
                return scopes.organization(uow, name)
            owner, _, repo = name.partition("/")
            return scopes.repository(uow, owner, repo)

        found = self.db.transact(find, write=False)
        assert found is not None
        return found

    def runners(
        self, scope: Scope, count: int, labels: Sequence[str] = ("self-hosted", "Linux", "X64")
    ) -> list[int]:
        """Registered-looking runners, inserted directly (no key generation): fast seeding."""

        def work(uow: UnitOfWork) -> list[int]:
            group = runners.group_id(uow.conn, scope.id, 1)
            assert group is not None
            ids = []
            for _ in range(count):
                runner_id = runners.insert(
                    uow.conn,
                    scope_id=scope.id,
                    group_id=group,
                    name=unique("runner"),
                    os="linux",
                    ephemeral=False,
                    work_folder="_work",
                    public_key=None,
                    client_id=None,
                    now=self.now(),
                )
                label_rules.attach_initial(uow, scope, runner_id, labels)
                ids.append(runner_id)
            return ids

        return self.db.transact(work)

    def start_job(self, scope: Scope, runner_id: int, **columns: Any) -> None:
        """The runner holds a job in progress (busy), without a workflow behind it;
        `columns`: more of the job's (org_scope_id, name)."""

        def work(conn: Connection) -> None:
            job_id = conn.execute(
                jobs.insert().values(
                    scope_id=scope.id,
                    runner_id=runner_id,
                    status="in_progress",
                    created_at=self.now(),
                    started_at=self.now(),
                    **columns,
                )
            ).inserted_primary_key
            assert job_id is not None
            conn.execute(
                runners_table.update()
                .where(runners_table.c.id == runner_id)
                .values(job_id=job_id[0])
            )

        self.db.write(work)
