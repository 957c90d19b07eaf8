"""A failed statement keeps why as a code the portal renders in the reader's language; the
exception text stays in ``failure`` for operators. Failed rows get a code read from that text."""

from typing import Any

from django.db import migrations, models

# Exception class names (the text starts ``Name: message``) and the code each one means.
STORAGE_ERRORS = (
    "OSError",
    "IOError",
    "PermissionError",
    "FileNotFoundError",
    "SuspiciousFileOperation",
)
DATABASE_ERRORS = (
    "OperationalError",
    "DatabaseError",
    "InterfaceError",
    "InternalError",
    "LockNotAvailable",
)


def failure_codes(apps: Any, schema_editor: Any) -> None:
    Statement = apps.get_model("billing", "Statement")
    for statement in Statement.objects.filter(status="failed", failure_code=""):
        name = statement.failure.split(":", 1)[0].strip()
        if name in STORAGE_ERRORS:
            code = "storage"
        elif name in DATABASE_ERRORS:
            code = "database"
        else:
            code = "unexpected"
        Statement.objects.filter(pk=statement.pk).update(failure_code=code)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_invoice_line_codes"),
    ]

    operations = [
        migrations.AddField(
            model_name="statement",
            name="failure_code",
            field=models.CharField(
                blank=True,
                choices=[
                    (
                        "storage",
                        "The statement's files could not be saved. This is usually temporary: retry in a few minutes.",
                    ),
                    (
                        "database",
                        "The statement could not be read from our records because the database was busy. Retry in a few minutes.",
                    ),
                    (
                        "unexpected",
                        "An unexpected error stopped the statement from being prepared. Retry; if it fails again, contact us with the statement number.",
                    ),
                ],
                max_length=16,
                verbose_name="reason code",
            ),
        ),
        migrations.RunPython(failure_codes, migrations.RunPython.noop),
    ]
