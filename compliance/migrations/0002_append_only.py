"""Filed reports and deposit records are facts: the database refuses to update or delete them
(a correction is a new version, or a new record)."""

from django.db import migrations

from portal.db import append_only


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [
        append_only("compliance_filedreport"),
        append_only("compliance_depositrecord"),
    ]
