"""Company KYC documents: the owner (portal) and operators (admin) upload the business licence
and the agent's authorisation; only PDF, JPEG or PNG content under the size limit is kept, in
private storage with its SHA-256; only operators read it, each read audited; a replacement
keeps the earlier file."""

from __future__ import annotations

import hashlib
import re
from http import HTTPStatus
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction
from django.test import Client
from pytest_django.fixtures import Settings

from portal.models import AuditEvent, Company, CompanyDocument, Role, User
from portal.services.kyc import KycAction, company_document_upload
from tests import factories
from tests.conftest import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_and_fast_hashing")]

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DOCUMENTS_PAGE = "/settings/company-documents/"


@pytest.fixture(autouse=True)
def private_root(settings: Settings, tmp_path: Path) -> Path:
    root = tmp_path / "private-kyc"
    settings.KYC_DOCUMENTS_ROOT = str(root)
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return root


@pytest.fixture
def company() -> Company:
    return factories.company("Xiamen Gifts Co.", status=Company.Status.PENDING)


@pytest.fixture
def owner(company: Company) -> User:
    return factories.member(company, Role.OWNER)


@pytest.fixture
def ops() -> User:
    return User.objects.create_user(
        "kyc-ops@issuer.example", "Correct-Horse-42", is_staff=True, is_superuser=True
    )


def _client(user: User) -> Client:
    client = Client()
    sign_in(client, user, second_factor=True)
    return client


def _stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _upload(client: Client, name: str, content: bytes, kind: str = "business_licence") -> str:
    response = client.post(
        DOCUMENTS_PAGE, {"kind": kind, "file": SimpleUploadedFile(name, content)}, follow=True
    )
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def test_an_owner_uploads_the_licence_and_sees_its_name_and_date_but_no_link(
    company: Company, owner: User, private_root: Path
) -> None:
    page = _upload(_client(owner), "licence.pdf", PDF)

    document = CompanyDocument.objects.get(company=company)
    assert (document.kind, document.original_name, document.content_type) == (
        "business_licence",
        "licence.pdf",
        "application/pdf",
    )
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert document.size == len(PDF)
    # Kept in the private folder, outside MEDIA_ROOT, byte for byte
    [stored] = _stored_files(private_root)
    assert stored.read_bytes() == PDF
    # The owner reads that it arrived; the page never links to its content
    assert "Business licence “licence.pdf” received." in page
    assert "licence.pdf" in page
    assert str(document.public_id) not in page
    assert "/kyc/documents/" not in page
    event = AuditEvent.objects.get(action=KycAction.DOCUMENT_UPLOADED)
    assert (event.actor, event.company) == (owner, company)
    assert event.changes["sha256"] == document.sha256


def test_a_file_that_is_not_a_pdf_jpeg_or_png_is_refused_naming_it_and_nothing_is_stored(
    company: Company, owner: User, private_root: Path
) -> None:
    # A Word file renamed to .pdf: the content decides, not the name
    page = _upload(_client(owner), "licence.pdf", b"PK\x03\x04word/document.xml")

    assert "“licence.pdf” is not a PDF, JPEG or PNG file" in page
    assert not CompanyDocument.objects.exists()
    assert _stored_files(private_root) == []
    assert not AuditEvent.objects.filter(action=KycAction.DOCUMENT_UPLOADED).exists()


def test_a_file_over_the_size_limit_is_refused_with_its_size_and_nothing_is_stored(
    company: Company, owner: User, private_root: Path, settings: Settings
) -> None:
    settings.KYC_DOCUMENT_MAX_BYTES = 1024
    page = _upload(_client(owner), "scan.png", PNG + b"\x00" * 2048)

    assert "“scan.png” is 2.1\xa0KB; a document may be at most 1.0\xa0KB." in page
    assert not CompanyDocument.objects.exists()
    assert _stored_files(private_root) == []


def test_an_empty_file_is_refused(company: Company, owner: User) -> None:
    with pytest.raises(ValidationError, match=re.escape("“empty.pdf” is empty")):
        company_document_upload(
            company=company,
            kind="business_licence",
            upload=SimpleUploadedFile("empty.pdf", b""),
            actor=owner,
        )
    assert not CompanyDocument.objects.exists()


def test_a_replacement_is_a_new_row_and_the_earlier_file_stays(
    company: Company, owner: User, private_root: Path
) -> None:
    client = _client(owner)
    _upload(client, "authorisation.pdf", PDF, kind="authorisation_letter")
    page = _upload(client, "authorisation-signed.png", PNG, kind="authorisation_letter")

    documents = list(CompanyDocument.objects.filter(company=company).order_by("id"))
    assert [d.original_name for d in documents] == [
        "authorisation.pdf",
        "authorisation-signed.png",
    ]
    assert sorted(p.read_bytes() for p in _stored_files(private_root)) == sorted([PDF, PNG])
    # The owner's page lists both, the newer as the current one
    assert "authorisation-signed.png" in page
    assert "authorisation.pdf" in page


@pytest.mark.parametrize("role", [Role.PURCHASER, Role.FINANCE, Role.VIEWER])
def test_only_the_owner_uploads_in_the_portal(company: Company, role: str) -> None:
    client = _client(factories.member(company, role))

    response = client.post(
        DOCUMENTS_PAGE, {"kind": "business_licence", "file": SimpleUploadedFile("l.pdf", PDF)}
    )

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not CompanyDocument.objects.exists()


def _document_url(document: CompanyDocument) -> str:
    return f"/ops/portal/company/{document.company_id}/kyc/documents/{document.public_id}/"


def test_an_operator_downloads_a_document_as_an_uncached_attachment_and_each_serve_is_audited(
    company: Company, owner: User, ops: User
) -> None:
    document = company_document_upload(
        company=company,
        kind="business_licence",
        upload=SimpleUploadedFile("营业执照.pdf", PDF),
        actor=owner,
    )
    client = _client(ops)

    for _attempt in range(2):
        response = client.get(_document_url(document), REMOTE_ADDR="198.51.100.7")
        assert response.status_code == HTTPStatus.OK
        assert response.getvalue() == PDF
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"].startswith("attachment;")
        assert "no-store" in response["Cache-Control"]

    served = AuditEvent.objects.filter(action=KycAction.DOCUMENT_OPENED)
    assert served.count() == 2
    assert {(e.actor, e.company, e.ip, e.object_id) for e in served} == {
        (ops, company, "198.51.100.7", str(document.public_id))
    }


def test_a_buyer_and_a_signed_out_visitor_never_get_a_document(
    company: Company, owner: User
) -> None:
    document = company_document_upload(
        company=company,
        kind="business_licence",
        upload=SimpleUploadedFile("licence.pdf", PDF),
        actor=owner,
    )

    for client in (_client(owner), Client()):
        response = client.get(_document_url(document))
        # The admin's sign-in page, never the file
        assert response.status_code == HTTPStatus.FOUND
        assert "/login/" in response["Location"]
    assert not AuditEvent.objects.filter(action=KycAction.DOCUMENT_OPENED).exists()


def test_a_document_of_another_company_is_not_found_under_this_one(
    company: Company, owner: User, ops: User
) -> None:
    other = factories.company("Other Co.")
    document = company_document_upload(
        company=company,
        kind="business_licence",
        upload=SimpleUploadedFile("licence.pdf", PDF),
        actor=owner,
    )

    response = _client(ops).get(
        f"/ops/portal/company/{other.pk}/kyc/documents/{document.public_id}/"
    )

    assert response.status_code == HTTPStatus.NOT_FOUND


def test_an_operator_uploads_in_the_admin_and_sees_the_document_on_the_company_page(
    company: Company, ops: User, private_root: Path
) -> None:
    client = _client(ops)
    url = f"/ops/portal/company/{company.pk}/kyc/upload/"

    refused = client.post(
        url, {"kind": "business_licence", "file": SimpleUploadedFile("notes.txt", b"hello")}
    )
    assert "“notes.txt” is not a PDF, JPEG or PNG file" in refused.content.decode()
    assert _stored_files(private_root) == []

    response = client.post(
        url, {"kind": "business_licence", "file": SimpleUploadedFile("licence.png", PNG)}
    )
    assert response.status_code == HTTPStatus.FOUND
    document = CompanyDocument.objects.get(company=company)
    assert document.uploaded_by == ops
    page = client.get(f"/ops/portal/company/{company.pk}/change/").content.decode()
    assert "licence.png" in page
    assert _document_url(document) in page


def test_the_database_refuses_to_change_or_delete_a_kept_document(
    company: Company, owner: User
) -> None:
    document = company_document_upload(
        company=company,
        kind="business_licence",
        upload=SimpleUploadedFile("licence.pdf", PDF),
        actor=owner,
    )

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        CompanyDocument.objects.filter(pk=document.pk).update(original_name="other.pdf")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        CompanyDocument.objects.filter(pk=document.pk).delete()
