"""Two database roles on PostgreSQL: the owner, that migrations run as, and the application's role,
that owns nothing.

A role that owns a table can TRUNCATE it, disable its triggers or drop them, so the append-only
guards (``portal.db.append_only``) bind the application only when it is not the owner. The
owner (``MIGRATE_DATABASE_URL``) creates the application role (``DATABASE_URL``'s user, or
``DATABASE_APP_ROLE``) if it is missing and grants it, in this database:

- SELECT, INSERT, UPDATE, DELETE on ordinary tables;
- SELECT, INSERT only on the append-only tables (those carrying an ``<table>_append_only``
  trigger) and SELECT only on ``django_migrations``;
- USAGE, SELECT on sequences; the same by default on tables and sequences the owner creates later.

Never TRUNCATE, REFERENCES or TRIGGER, never ownership, never a superuser's attributes (so no
``session_replication_role``). ``role_grants_apply`` runs after every ``migrate`` (a post_migrate
receiver) and from ``manage.py db_roles``; it is idempotent, and safe beside concurrent test runs
on other databases of the cluster (roles are cluster-wide, grants are per database).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Writes the application never makes to these Django tables.
READ_ONLY_TABLES = ("django_migrations",)

# SQLSTATEs of a role created meanwhile by a concurrent run: duplicate_object, unique_violation.
_ROLE_EXISTS = {"42710", "23505"}


class RoleSetupRefused(Exception):
    """The application role cannot be made safe by granting (it is a superuser, the owner, a member
    of the owner, or owns objects here): a person has to fix it."""


@dataclass(frozen=True)
class RoleGrants:
    role: str
    created: bool
    tables: int
    append_only: tuple[str, ...]
    read_only: tuple[str, ...]


@contextmanager
def connected_as(alias: str, credentials: dict[str, Any] | None) -> Iterator[BaseDatabaseWrapper]:
    """Within the block, ``connections[alias]`` (in this thread) connects with these credentials
    (USER, PASSWORD, HOST, PORT) to the same database; None keeps the usual connection."""
    if not credentials:
        yield connections[alias]
        return
    usual = connections[alias]
    backend = import_string(f"{usual.settings_dict['ENGINE']}.base")
    other = backend.DatabaseWrapper({**usual.settings_dict, **credentials}, alias)
    connections[alias] = other
    try:
        yield other
    finally:
        other.close()
        connections[alias] = usual


def as_owner(alias: str) -> Any:
    """Connect as the owner role (``MIGRATE_DATABASE_URL``) within the block, when there is one."""
    return connected_as(alias, settings.DATABASE_OWNER if alias == "default" else None)


def append_only_tables(connection: BaseDatabaseWrapper) -> list[str]:
    """The tables that ``portal.db.append_only`` guards, found by their trigger."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = to_regnamespace(current_schema()) "
            "AND t.tgname = c.relname || '_append_only' ORDER BY c.relname"
        )
        return [row[0] for row in cursor.fetchall()]


def _role_ensure(connection: BaseDatabaseWrapper, role: str, password: str | None) -> bool:
    """Create the role if it is missing (True when this call created it); otherwise take away
    any attribute it should not have and set the password DATABASE_URL gives."""
    quoted = connection.ops.quote_name(role)
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    if password:
        # Hashed here (SCRAM, as the server asks), so no statement log ever holds the password.
        connection.ensure_connection()
        password = connection.connection.pgconn.encrypt_password(
            password.encode(), role.encode()
        ).decode()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls "
            "OR NOT rolcanlogin FROM pg_roles WHERE rolname = %s",
            [role],
        )
        found = cursor.fetchone()
        if found is None:
            try:
                with transaction.atomic(using=connection.alias):
                    if password:
                        cursor.execute(f"CREATE ROLE {quoted} {attributes} PASSWORD %s", [password])
                    else:
                        cursor.execute(f"CREATE ROLE {quoted} {attributes}")
            except DatabaseError as exc:
                if getattr(exc.__cause__, "sqlstate", None) not in _ROLE_EXISTS:
                    raise
                # A concurrent run (on another database of the cluster) created it first.
            else:
                return True
        elif found[0]:
            raise RoleSetupRefused(
                f"the application role {role} is a superuser: give the application a role of "
                "its own (DATABASE_URL) and keep the superuser for MIGRATE_DATABASE_URL"
            )
        elif found[1]:
            # Only when something differs: an ALTER on the shared role row from two concurrent
            # runs would fail with "tuple concurrently updated".
            cursor.execute(f"ALTER ROLE {quoted} {attributes}")
        if password:
            cursor.execute(f"ALTER ROLE {quoted} PASSWORD %s", [password])
    return False


def _role_check(connection: BaseDatabaseWrapper, role: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT %s = current_user OR pg_has_role(%s, current_user, 'MEMBER')", [role, role]
        )
        if cursor.fetchone()[0]:
            raise RoleSetupRefused(
                f"the application role {role} is (or is a member of) the owner role: "
                "DATABASE_URL and MIGRATE_DATABASE_URL need two different roles"
            )
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = to_regrole(%s) "
            "AND relnamespace = to_regnamespace(current_schema())",
            [connection.ops.quote_name(role)],
        )
        owned = cursor.fetchone()[0]
    if owned:
        raise RoleSetupRefused(
            f"the application role {role} owns {owned} tables or sequences here: as a superuser, "
            f"run REASSIGN OWNED BY {role} TO <owner role> in this database first"
        )


def role_grants_apply(*, alias: str = "default", role: str | None = None) -> RoleGrants | None:
    """Create the application role if needed and grant it exactly its rights in this database,
    on the connection ``alias`` (the owner's). None when there is no application role to set
    up (SQLite, or one role for everything)."""
    role = role if role is not None else settings.DATABASE_APP_ROLE
    connection = connections[alias]
    if connection.vendor != "postgresql" or not role:
        return None
    password = settings.DATABASES[alias].get("PASSWORD") if settings.DATABASE_OWNER else None
    quoted = connection.ops.quote_name(role)
    created = _role_ensure(connection, role, password or None)
    _role_check(connection, role)
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        guarded = append_only_tables(connection)
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
            [list(READ_ONLY_TABLES)],
        )
        read_only = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = (connection.ops.quote_name(name) for name in cursor.fetchone())
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relnamespace = to_regnamespace(current_schema())"
        )
        tables = cursor.fetchone()[0]
        for statement in (
            f"GRANT CONNECT ON DATABASE {database} TO {quoted}",
            f"GRANT USAGE ON SCHEMA {schema} TO {quoted}",
            # From nothing each time: a right an earlier version granted and this one does not
            # goes away. One transaction: the application never sees the gap.
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {quoted}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {quoted}",
            *(
                f"REVOKE UPDATE, DELETE ON {connection.ops.quote_name(table)} FROM {quoted}"
                for table in guarded
            ),
            *(
                f"REVOKE INSERT, UPDATE, DELETE ON {connection.ops.quote_name(table)} FROM {quoted}"
                for table in read_only
            ),
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {quoted}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {quoted}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
            f"GRANT USAGE, SELECT ON SEQUENCES TO {quoted}",
        ):
            cursor.execute(statement)
    return RoleGrants(
        role=role,
        created=created,
        tables=tables,
        append_only=tuple(guarded),
        read_only=tuple(read_only),
    )


def grant_after_migrate(sender: Any, *, using: str = "default", **kwargs: Any) -> None:
    """post_migrate receiver: new tables get the application role's rights (append-only ones
    lose UPDATE and DELETE). ``flush`` sends post_migrate too, without a plan: nothing changed."""
    if "plan" not in kwargs:
        return
    result = role_grants_apply(alias=using)
    if result is not None and kwargs.get("verbosity", 1) >= 1:
        logger.info(
            "database role %s: rights on %s tables, append-only: %s",
            result.role,
            result.tables,
            ", ".join(result.append_only),
        )
