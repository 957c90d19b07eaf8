"""Purchase registrations are kept, never edited or deleted (prepaid card rules)."""

from django.db import migrations

from portal.db import append_only


class Migration(migrations.Migration):
    dependencies = [("cards", "0001_initial")]

    operations = [append_only("cards_purchaseregistration")]
