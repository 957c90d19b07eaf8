"""Database-level guarantees shared by the apps."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, migrations
from django.db.backends.utils import CursorWrapper


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


# --- Prepared statements for the few hot statements ---------------------------------------------
# Django sends every query with client-side binding (the values quoted into the SQL text), which
# PostgreSQL parses and plans anew each time: for a short query that is most of its cost on the
# server. The hot statements of the merchant API (a card's look-up, the Idempotency-Key's, a
# redemption in one statement) go through ``prepared_cursor`` instead: server-side binding, and
# a statement psycopg prepares once per connection and then only executes. Nothing else is
# prepared: Django's cursors stay client-side, which psycopg never prepares, and the connection's
# ``prepare_threshold`` (portal/settings/databases.py) is set so high that no statement is
# prepared unless it asks. Connection poolers in transaction mode (PgBouncer before 1.21) do not
# keep prepared statements; set DB_PREPARED_STATEMENTS=false there.


def _preparing_cursor_class() -> type:
    import psycopg

    class PreparingCursor(psycopg.Cursor[Any]):
        """Server-side binding; every statement prepared (psycopg keeps the names per
        connection, and re-prepares after a rollback or when it evicts one)."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            kwargs["prepare"] = True
            return super().execute(query, params, **kwargs)

    return PreparingCursor


_PREPARING_CURSOR: type | None = None


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor of the default connection whose statements PostgreSQL prepares once per
    connection (see above). Elsewhere (SQLite, prepared statements off, queries being logged)
    an ordinary cursor.
    Use ``%s`` or ``%(name)s`` placeholders, with casts where PostgreSQL cannot infer a type."""
    global _PREPARING_CURSOR
    # The connection object once (each ``connection.x`` looks it up in a context-local store).
    db = connections[DEFAULT_DB_ALIAS]
    if (
        db.vendor != "postgresql"
        or db.settings_dict["OPTIONS"].get("prepare_threshold") is None
        # Logged queries (DEBUG, tests that count them) read a statement's text from the cursor,
        # which psycopg does not keep for a prepared one.
        or db.queries_logged
    ):
        with db.cursor() as cursor:
            yield cursor
        return
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    if _PREPARING_CURSOR is None:
        _PREPARING_CURSOR = _preparing_cursor_class()
    with db.make_cursor(_PREPARING_CURSOR(db.connection)) as cursor:
        yield cursor


def model_columns(model: type[Any], alias: str) -> str:
    """The quoted columns of every concrete field of ``model``, as ``alias."column"``, in the
    field order ``model_from_row`` reads them in."""
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def model_from_row(model: type[Any], row: tuple[Any, ...] | list[Any], start: int = 0) -> Any:
    """An instance of ``model`` from ``row[start:]`` as selected by ``model_columns``, each
    value through its field's ``from_db_value`` as the ORM does (JSON, for one)."""
    fields = model._meta.concrete_fields
    values = []
    for offset, field in enumerate(fields):
        value = row[start + offset]
        converter = getattr(field, "from_db_value", None)
        if converter is not None:
            value = converter(value, None, connection)
        values.append(value)
    return model.from_db(connection.alias, [field.attname for field in fields], values)
