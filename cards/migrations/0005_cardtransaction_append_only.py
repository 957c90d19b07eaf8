"""Card transactions are facts: the database refuses UPDATE and DELETE."""

from django.db import migrations

from portal.db import append_only


class Migration(migrations.Migration):
    dependencies = [("cards", "0004_issuance")]

    operations = [append_only("cards_cardtransaction")]
