from django.db import migrations

from portal.db import append_only


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_initial")]

    operations = [append_only("portal_auditevent")]
