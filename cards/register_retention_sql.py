"""The database's own refusal to delete a purchase registration before its retention ends or
while a legal hold covers it (cards/migrations/0020_legal_holds.py installs it).

PostgreSQL: the registration table's append-only trigger is replaced by a retention trigger that
still refuses every UPDATE, and refuses a DELETE while the registration is younger than five years,
still names an order, or is held. Renamed on purpose: ``portal.db_roles`` withholds DELETE from
the application role on tables with an ``_append_only`` trigger, and the purge must be able to
delete here (the trigger, which binds that role, decides what).

A second trigger on orders refuses to take a registration off a submitted order less than five
years old, or a held one (the purge detaches the orders first, so a detached registration cannot
hide a recent purchase). SQLite (the embedded default): the same conditions as ``WHEN`` clauses.
"""

from __future__ import annotations

from typing import Any

RETENTION = "5 years"  # cards.models.REGISTRATION_RETENTION_YEARS

_HELD_PG = """EXISTS (
    SELECT 1 FROM cards_legalhold h WHERE h.released_at IS NULL
    AND (h.registration_id = {reg} OR h.company_id = {company}))"""

PG_FORWARD = f"""
DROP TRIGGER IF EXISTS cards_purchaseregistration_append_only ON cards_purchaseregistration;
DROP FUNCTION IF EXISTS cards_purchaseregistration_append_only();
CREATE OR REPLACE FUNCTION cards_purchaseregistration_retention() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'cards_purchaseregistration is append-only: UPDATE refused'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.created_at > now() - interval '{RETENTION}' THEN
        RAISE EXCEPTION 'purchase registration %: within its retention, DELETE refused',
            OLD.public_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM cards_order o WHERE o.registration_id = OLD.id) THEN
        RAISE EXCEPTION 'purchase registration %: an order names it, DELETE refused',
            OLD.public_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF {_HELD_PG.format(reg="OLD.id", company="OLD.company_id")} THEN
        RAISE EXCEPTION 'purchase registration %: under a legal hold, DELETE refused',
            OLD.public_id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER cards_purchaseregistration_retention
    BEFORE UPDATE OR DELETE ON cards_purchaseregistration
    FOR EACH ROW EXECUTE FUNCTION cards_purchaseregistration_retention();

CREATE OR REPLACE FUNCTION cards_order_registration_kept() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.registration_id IS NOT NULL
        AND NEW.registration_id IS DISTINCT FROM OLD.registration_id
        AND OLD.submitted_at IS NOT NULL
        AND (OLD.submitted_at > now() - interval '{RETENTION}'
             OR {_HELD_PG.format(reg="OLD.registration_id", company="OLD.company_id")})
    THEN
        RAISE EXCEPTION 'order %: its purchase registration is kept, change refused', OLD.number
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cards_order_registration_kept
    BEFORE UPDATE OF registration_id ON cards_order
    FOR EACH ROW EXECUTE FUNCTION cards_order_registration_kept();
"""  # noqa: S608 - built from constants

PG_BACKWARD = """
DROP TRIGGER IF EXISTS cards_order_registration_kept ON cards_order;
DROP FUNCTION IF EXISTS cards_order_registration_kept();
DROP TRIGGER IF EXISTS cards_purchaseregistration_retention ON cards_purchaseregistration;
DROP FUNCTION IF EXISTS cards_purchaseregistration_retention();
CREATE OR REPLACE FUNCTION cards_purchaseregistration_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'cards_purchaseregistration is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER cards_purchaseregistration_append_only
    BEFORE UPDATE OR DELETE ON cards_purchaseregistration
    FOR EACH ROW EXECUTE FUNCTION cards_purchaseregistration_append_only();
"""

_HELD_SQLITE = """EXISTS (
    SELECT 1 FROM cards_legalhold h WHERE h.released_at IS NULL
    AND (h.registration_id = {reg} OR h.company_id = {company}))"""

SQLITE_FORWARD = [
    "DROP TRIGGER IF EXISTS cards_purchaseregistration_no_delete",
    f"""CREATE TRIGGER cards_purchaseregistration_no_delete
    BEFORE DELETE ON cards_purchaseregistration
    WHEN OLD.created_at > datetime('now', '-{RETENTION}')
        OR EXISTS (SELECT 1 FROM cards_order o WHERE o.registration_id = OLD.id)
        OR {_HELD_SQLITE.format(reg="OLD.id", company="OLD.company_id")}
    BEGIN SELECT RAISE(ABORT,
        'cards_purchaseregistration: DELETE refused (retention, an order, or a legal hold)');
    END""",  # noqa: S608 - built from constants
    f"""CREATE TRIGGER cards_order_registration_kept
    BEFORE UPDATE OF registration_id ON cards_order
    WHEN OLD.registration_id IS NOT NULL
        AND NEW.registration_id IS NOT OLD.registration_id
        AND OLD.submitted_at IS NOT NULL
        AND (OLD.submitted_at > datetime('now', '-{RETENTION}')
             OR {_HELD_SQLITE.format(reg="OLD.registration_id", company="OLD.company_id")})
    BEGIN SELECT RAISE(ABORT, 'cards_order: the purchase registration is kept, change refused');
    END""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS cards_order_registration_kept",
    "DROP TRIGGER IF EXISTS cards_purchaseregistration_no_delete",
    "CREATE TRIGGER cards_purchaseregistration_no_delete BEFORE DELETE ON "
    "cards_purchaseregistration BEGIN SELECT RAISE(ABORT, "
    "'cards_purchaseregistration is append-only: DELETE refused'); END",
]


def forward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise NotImplementedError(f"registration retention needs a trigger for {vendor}")


def backward(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)
