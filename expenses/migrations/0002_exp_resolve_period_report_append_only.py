"""A period's reconciliation report, once filed, is a fact: the database refuses to change or
delete its rows (a re-close files a new version)."""

from django.db import migrations

from portal.db import append_only


class Migration(migrations.Migration):
    dependencies = [("expenses", "0001_initial")]

    operations = [append_only("expenses_periodreport")]
