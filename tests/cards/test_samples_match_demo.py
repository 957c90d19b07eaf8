"""The order samples of docs/uploads.md (docs/samples/) are what a newcomer uploads first, into
the demo data of ``manage.py seed_demo``: each sample names products of the demo catalog, with
face values they are sold in, and passes the real check as the demo company's purchaser with no
row error. The samples on disk are what docs/samples/make_order_samples.py writes."""

# mypy: disable-error-code="index"

from __future__ import annotations

import codecs
import importlib.util
from io import StringIO
from pathlib import Path
from types import ModuleType

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from cards.models import CardProduct, UploadStatus
from cards.services.uploads import upload_receive
from portal.management.commands.seed_demo import DEMO_COMPANY, DEMO_DOMAIN, DEMO_PRODUCTS
from portal.models import Company, User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

SAMPLES = Path(settings.BASE_DIR) / "docs" / "samples"
ORDER_SAMPLES = ["orders-utf8.csv", "orders-utf8-bom.csv", "orders-gbk.csv", "orders.xlsx"]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_order_samples", SAMPLES / "make_order_samples.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(settings, tmp_path) -> tuple[Company, User]:
    """The demo data as a newcomer has it: ``manage.py seed_demo``, nothing else."""
    settings.VAR_DIR = tmp_path  # its credentials file
    call_command("seed_demo", stdout=StringIO())
    company = Company.objects.get(credit_code=DEMO_COMPANY[1])
    return company, User.objects.get(email=f"purchaser@{DEMO_DOMAIN}")


def test_every_order_sample_is_checked_here() -> None:
    on_disk = sorted(path.name for path in SAMPLES.glob("orders*"))
    assert on_disk == sorted(ORDER_SAMPLES)


def test_the_samples_on_disk_are_what_the_generator_writes() -> None:
    written = generator().samples()

    assert sorted(written) == sorted(ORDER_SAMPLES)
    for name, content in written.items():
        assert (SAMPLES / name).read_bytes() == content, (
            f"docs/samples/{name} is stale: run python docs/samples/make_order_samples.py"
        )


def test_the_gbk_sample_is_really_gbk() -> None:
    data = (SAMPLES / "orders-gbk.csv").read_bytes()

    assert not data.startswith(codecs.BOM_UTF8)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    data.decode("gbk")  # no character beyond GBK, as Excel on a Chinese Windows machine saves


@pytest.mark.parametrize("delivery_method", ["file", "recipients"])
@pytest.mark.parametrize("name", ORDER_SAMPLES)
def test_each_order_sample_passes_the_check_in_the_demo_data(
    demo: tuple[Company, User], name: str, delivery_method: str
) -> None:
    company, purchaser = demo

    upload = upload_receive(
        company=company,
        actor=purchaser,
        file=SimpleUploadedFile(name, (SAMPLES / name).read_bytes()),
        payment_method="credit",
        delivery_method=delivery_method,
    )

    result = upload.result
    assert result["errors"] == [], result["errors"]
    assert upload.error_count == 0
    assert upload.status == UploadStatus.VALID, upload.failure
    # Every product of the demo catalog is in each sample; the blank and the total row are
    # skipped with a note, and the total row's quantity is the cards ordered.
    names = {product["name"] for product in DEMO_PRODUCTS}
    ordered = set(
        CardProduct.objects.filter(
            public_id__in=[total["product"] for total in result["totals"]]
        ).values_list("name", flat=True)
    )
    assert ordered == names
    assert result["note_count"] == 2
    assert result["card_count"] == generator().CARD_COUNT
