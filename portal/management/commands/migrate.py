"""``migrate`` as the role that owns the tables (``MIGRATE_DATABASE_URL``) when one is set; the
post_migrate receiver in ``portal.db_roles`` then grants the application role its rights."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from portal.db_roles import as_owner


class Command(DjangoMigrate):
    help = f"{DjangoMigrate.help} Connects as MIGRATE_DATABASE_URL's role when it is set."

    def handle(self, *args: Any, **options: Any) -> None:
        with as_owner(options["database"]):
            super().handle(*args, **options)
