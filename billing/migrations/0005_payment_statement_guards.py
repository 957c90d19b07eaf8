"""Allocations and statement files are facts: the database refuses to change or delete them.
An issued statement is immutable too (a re-issue is a new version)."""

from typing import Any

from django.db import migrations

from portal.db import append_only

ISSUED_IMMUTABLE = """
CREATE OR REPLACE FUNCTION billing_statement_issued_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'issued' THEN
        RAISE EXCEPTION 'statement % is issued and cannot change: % refused', OLD.number, TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER billing_statement_issued_immutable
    BEFORE UPDATE OR DELETE ON billing_statement
    FOR EACH ROW EXECUTE FUNCTION billing_statement_issued_immutable();
"""


def issued_forward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ISSUED_IMMUTABLE, None)


def issued_backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS billing_statement_issued_immutable ON billing_statement; "
            "DROP FUNCTION IF EXISTS billing_statement_issued_immutable();",
            None,
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0004_payments_receivables_statements")]

    operations = [
        append_only("billing_allocation"),
        append_only("billing_statementfile"),
        migrations.RunPython(issued_forward, issued_backward),
    ]
