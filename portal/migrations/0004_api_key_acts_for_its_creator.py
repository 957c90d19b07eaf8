"""A key acts for the member who created it. Keys made to act as someone else are revoked (the
audit trail keeps who made them and for whom); the constraint keeps it so."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def revoke_impersonating_keys(apps, schema_editor):
    ApiKey = apps.get_model("portal", "ApiKey")
    AuditEvent = apps.get_model("portal", "AuditEvent")
    now = timezone.now()
    keys = ApiKey.objects.filter(revoked_at__isnull=True).exclude(user=F("created_by"))
    for key in keys.select_related("user"):
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        AuditEvent.objects.create(
            created_at=now,
            actor=None,
            actor_label="system",
            company_id=key.company_id,
            action="api_key.revoked",
            object_type="portal.apikey",
            object_id=str(key.public_id),
            changes={
                "name": key.name,
                "prefix": key.prefix,
                "reason": "the key acted as another member than the one who created it",
                "acted_as": key.user.email,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0003_company_approval_threshold_apikey_idempotencyrecord"),
    ]

    operations = [
        migrations.RunPython(revoke_impersonating_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apikey",
            name="user",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="api_keys",
                to=settings.AUTH_USER_MODEL,
                verbose_name="holder",
            ),
        ),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=models.Q(("revoked_at__isnull", False), ("user", models.F("created_by")), _connector="OR"),
                name="api_key_acts_for_its_creator",
            ),
        ),
    ]
