"""Create the application's database role if needed and grant it its rights (portal/db_roles.py).

Run by the owner: connects as MIGRATE_DATABASE_URL's role. ``migrate`` does the same at its end,
so this is for a first setup before migrating, or after changing the application's password."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from portal.db_roles import RoleSetupRefused, as_owner, role_grants_apply


class Command(BaseCommand):
    help = (
        "Create the application's database role (DATABASE_URL's user) if it is missing and "
        "grant it exactly its rights, connected as the owner (MIGRATE_DATABASE_URL)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["database"]
        if connections[alias].vendor != "postgresql":
            self.stdout.write("SQLite: one database file, no roles to set up.")
            return
        if not settings.DATABASE_APP_ROLE:
            raise CommandError(
                "No application role: set MIGRATE_DATABASE_URL to the role that owns the tables "
                "and DATABASE_URL to the application's role (see the README)."
            )
        try:
            with as_owner(alias):
                result = role_grants_apply(alias=alias)
        except RoleSetupRefused as exc:
            raise CommandError(str(exc)) from exc
        assert result is not None
        writable = result.tables - len(result.append_only) - len(result.read_only)
        self.stdout.write(
            f"{'Created' if result.created else 'Updated'} role {result.role}: read and write on "
            f"{writable} tables, read and append only on "
            f"{', '.join(result.append_only) or 'none'}, read only on "
            f"{', '.join(result.read_only) or 'none'}."
        )
