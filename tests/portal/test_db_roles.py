"""The application's database role cannot empty the append-only tables (issue 11, defect 10).

The role under test is the one the real Celery workers connect as (``WorkerPool.env``), as web
servers and workers do in production: it owns nothing, cannot TRUNCATE the audit trail, the
ledger or card transactions, cannot switch their triggers off (``session_replication_role``,
``DISABLE TRIGGER``), cannot UPDATE or DELETE their rows, and still does its ordinary work.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import environ
import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.backends.postgresql.base import DatabaseWrapper

from billing.models import Account, JournalEntry, Posting
from billing.services.ledger import account_get, journal_post
from cards.models import Order
from portal.models import AuditEvent, Company, Membership, Role
from portal.services.audit import audit_record
from tests import factories
from tests.portal.test_settings import _manage, _production_env, _shell_print

if TYPE_CHECKING:
    from conftest import WorkerPool

pytestmark = pytest.mark.django_db(transaction=True)

INSUFFICIENT_PRIVILEGE = "42501"


@contextmanager
def as_application(worker_pool: WorkerPool) -> Iterator[DatabaseWrapper]:
    """Within the block, the ORM (in this thread) connects as the workers' DATABASE_URL."""
    url = environ.Env.db_url_config(worker_pool.env()["DATABASE_URL"])
    usual = connections["default"]
    credentials = {key: url[key] for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT")}
    application = DatabaseWrapper({**usual.settings_dict, **credentials}, "default")
    connections["default"] = application
    try:
        with application.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        yield application
    finally:
        application.close()
        connections["default"] = usual


def refusal(sql: str) -> str:
    """Run ``sql`` on the current connection, expect a refusal, return its SQLSTATE."""
    with (
        pytest.raises(DatabaseError) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    return str(getattr(refused.value.__cause__, "sqlstate", ""))


def test_the_application_role_cannot_empty_the_audit_trail_or_the_ledger(
    worker_pool: WorkerPool,
) -> None:
    company = factories.company()
    audit_record(action="test.kept", company=company)
    journal_post(
        kind="test",
        idempotency_key="kept",
        postings=[
            (account_get(Account.Kind.CASH), Decimal("10.00")),
            (account_get(Account.Kind.RECEIVABLE, company), Decimal("-10.00")),
        ],
        company=company,
    )

    with as_application(worker_pool):
        for table in (
            "portal_auditevent",
            "billing_journalentry",
            "billing_posting",
            "cards_cardtransaction",
        ):
            assert refusal(f"TRUNCATE {table} CASCADE") == INSUFFICIENT_PRIVILEGE, table
            assert (
                refusal(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
                == INSUFFICIENT_PRIVILEGE
            ), table
            assert refusal(f"ALTER TABLE {table} DISABLE TRIGGER ALL") == INSUFFICIENT_PRIVILEGE
            assert refusal(f"DROP TRIGGER {table}_append_only ON {table}")
            assert refusal(f"DELETE FROM {table}"), table
            assert refusal(f"UPDATE {table} SET id = id"), table
        assert refusal("SET session_replication_role = replica") == INSUFFICIENT_PRIVILEGE
        assert refusal("SET LOCAL session_replication_role = replica") == INSUFFICIENT_PRIVILEGE
        assert refusal("DROP TABLE portal_auditevent CASCADE") == INSUFFICIENT_PRIVILEGE
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            assert cursor.fetchone() == (False, False)
            cursor.execute(
                "SELECT count(*) FROM pg_class WHERE relowner = "
                "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
            )
            assert cursor.fetchone()[0] == 0, "the application role owns tables"

    assert AuditEvent.objects.filter(action="test.kept").count() == 1
    assert JournalEntry.objects.filter(idempotency_key="kept").count() == 1
    assert Posting.objects.filter(entry__idempotency_key="kept").count() == 2


def test_the_application_role_does_its_ordinary_work(worker_pool: WorkerPool) -> None:
    with as_application(worker_pool):
        company = factories.company()
        purchaser = factories.member(company, Role.PURCHASER)
        order = factories.draft(company, purchaser)
        Company.objects.filter(pk=company.pk).update(legal_name="改名公司")
        entry = journal_post(
            kind="test",
            idempotency_key="work",
            postings=[
                (account_get(Account.Kind.CASH), Decimal("5.00")),
                (account_get(Account.Kind.RECEIVABLE, company), Decimal("-5.00")),
            ],
            company=company,
        )
        Membership.objects.filter(user=purchaser).delete()

    assert Order.objects.get(pk=order.pk).company.legal_name == "改名公司"
    assert AuditEvent.objects.filter(object_id=str(order.public_id)).exists()
    assert entry.postings.count() == 2
    assert not Membership.objects.filter(user=purchaser).exists()


def test_granting_again_is_idempotent_and_refuses_a_superuser_as_application_role() -> None:
    from django.core.management import call_command

    from portal.db_roles import RoleSetupRefused, role_grants_apply

    call_command("db_roles")
    granted = role_grants_apply()

    assert granted is not None
    assert not granted.created
    assert "portal_auditevent" in granted.append_only
    assert "billing_posting" in granted.append_only
    with pytest.raises(RoleSetupRefused, match="superuser"):
        role_grants_apply(role="postgres")


# --- Settings: which URL is whose ---------------------------------------------------------------


def test_production_takes_the_application_role_from_database_url(tmp_path: Path) -> None:
    env = {
        **_production_env(tmp_path),
        "DATABASE_URL": "postgres://portal_app:app-pw@db.internal:5432/portal",
        "MIGRATE_DATABASE_URL": "postgres://portal_owner:owner-pw@db.internal:5432/portal",
    }

    assert _shell_print("settings.DATABASE_APP_ROLE", env) == "portal_app"
    assert _shell_print("settings.DATABASES['default']['USER']", env) == "portal_app"
    assert _shell_print("settings.DATABASE_OWNER['USER']", env) == "portal_owner"


def test_an_owner_url_for_another_database_is_refused(tmp_path: Path) -> None:
    env = {
        **_production_env(tmp_path),
        "MIGRATE_DATABASE_URL": "postgres://portal_owner@127.0.0.1:5432/elsewhere",
    }

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "MIGRATE_DATABASE_URL must name the same PostgreSQL database" in result.stderr


def test_the_embedded_default_has_one_database_and_no_roles(tmp_path: Path) -> None:
    env = {"PORTAL_ENV": "development", "PORTAL_VAR_DIR": str(tmp_path)}

    assert _shell_print("settings.DATABASES['default']['ENGINE']", env).endswith("sqlite3")
    assert _shell_print("repr(settings.DATABASE_APP_ROLE)", env) == "''"
    assert _shell_print("settings.DATABASE_OWNER", env) == "None"
