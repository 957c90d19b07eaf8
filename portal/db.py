"""Database-level guarantees shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def append_only(table: str) -> migrations.RunPython:
    """A migration operation that makes the database itself refuse UPDATE and DELETE on a table.

    Used for the audit trail, the ledger and card transactions: rows there are facts, corrected
    by new rows, never edited. TRUNCATE stays possible for the owner only (test databases are
    emptied with it): the application connects as a role that owns nothing (portal/db_roles.py).
    """

    def forward(apps: Any, schema_editor: Any) -> None:
        conn = schema_editor.connection
        if conn.vendor == "postgresql":
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                        USING ERRCODE = 'restrict_violation';
                END $$;
                CREATE TRIGGER {table}_append_only
                    BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
                """,
                None,  # no parameters: the % in the message is not a placeholder
            )
        elif conn.vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
                )
        else:
            raise NotImplementedError(f"append-only tables need a trigger for {conn.vendor}")

    def backward(apps: Any, schema_editor: Any) -> None:
        conn = schema_editor.connection
        if conn.vendor == "postgresql":
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}; "
                f"DROP FUNCTION IF EXISTS {table}_append_only();"
            )
        elif conn.vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")

    return migrations.RunPython(forward, backward)
