"""The database itself keeps the books: journal entries and postings are append-only, and an
entry whose postings do not sum to zero (or that has fewer than two) cannot commit."""

from typing import Any

from django.db import migrations

from portal.db import append_only

BALANCED = """
CREATE OR REPLACE FUNCTION billing_entry_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    entry integer;
    total numeric;
    lines integer;
BEGIN
    IF TG_TABLE_NAME = 'billing_journalentry' THEN
        entry := NEW.id;
    ELSE
        entry := NEW.entry_id;
    END IF;
    SELECT coalesce(sum(amount), 0), count(*) INTO total, lines
      FROM billing_posting WHERE entry_id = entry;
    IF total <> 0 OR lines < 2 THEN
        RAISE EXCEPTION 'journal entry % does not balance: % over % postings', entry, total, lines
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER billing_posting_balanced
    AFTER INSERT ON billing_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_entry_balanced();
CREATE CONSTRAINT TRIGGER billing_entry_has_postings
    AFTER INSERT ON billing_journalentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION billing_entry_balanced();
"""


def balanced_forward(apps: Any, schema_editor: Any) -> None:
    # SQLite (the embedded default for a laptop) has no deferred triggers; there the check in
    # journal_post is the guard. PostgreSQL, which production and CI run, enforces it.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BALANCED, None)


def balanced_backward(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS billing_posting_balanced ON billing_posting; "
            "DROP TRIGGER IF EXISTS billing_entry_has_postings ON billing_journalentry; "
            "DROP FUNCTION IF EXISTS billing_entry_balanced();",
            None,
        )


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        append_only("billing_journalentry"),
        append_only("billing_posting"),
        migrations.RunPython(balanced_forward, balanced_backward),
    ]
