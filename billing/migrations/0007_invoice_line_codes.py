"""Invoice lines say what they are as a code and its facts, rendered in the reader's language
(issue 12, defect 4). Existing card sale lines, stored as text in the issuer's language
("礼品卡，面值 ¥100.00" or "Gift card, face value ¥100.00"), get the code and the facts read
back out of the text; the text stays as it was, so a line that cannot be read keeps showing it."""

from __future__ import annotations

# Frozen here (a migration must not change when the application's code does); the same patterns
# as billing.line_text.LEGACY_CARD_SALE.
import re
from decimal import Decimal
from typing import Any

from django.db import migrations, models

CARD_SALE = "card_sale"
LEGACY = (
    re.compile(r"^(?P<product>.+), face value ¥(?P<value>[\d,]+(?:\.\d+)?)$"),
    re.compile(r"^(?P<product>.+)\uff0c面值 ¥(?P<value>[\d,]+(?:\.\d+)?)$"),
)


def codes_forward(apps: Any, schema_editor: Any) -> None:
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    changed = []
    for line in InvoiceLine.objects.filter(description_code="").iterator(chunk_size=2000):
        for pattern in LEGACY:
            found = pattern.match(line.description)
            if found is None:
                continue
            value = Decimal(found["value"].replace(",", ""))
            if value != line.face_value:
                break  # not the line's own face value: keep the text as it is
            line.description_code = CARD_SALE
            line.description_params = {
                "product": found["product"],
                "product_en": "",
                "face_value": str(line.face_value),
            }
            changed.append(line)
            break
        if len(changed) >= 2000:
            InvoiceLine.objects.bulk_update(changed, ["description_code", "description_params"])
            changed = []
    if changed:
        InvoiceLine.objects.bulk_update(changed, ["description_code", "description_params"])


def codes_backward(apps: Any, schema_editor: Any) -> None:
    # The text of every line read back stayed as it was; lines issued with a code get one.
    InvoiceLine = apps.get_model("billing", "InvoiceLine")
    changed = []
    for line in InvoiceLine.objects.filter(description="").exclude(description_code=""):
        params = line.description_params or {}
        line.description = "%s, face value ¥%s" % (
            params.get("product", ""),
            f"{Decimal(params.get('face_value') or line.face_value):,.2f}",
        )
        changed.append(line)
    InvoiceLine.objects.bulk_update(changed, ["description"], batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0006_notice_sent_markers"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoiceline",
            name="description_code",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="description_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="invoiceline",
            name="description",
            field=models.CharField(blank=True, max_length=200, verbose_name="description"),
        ),
        migrations.RunPython(codes_forward, codes_backward, elidable=False),
    ]
