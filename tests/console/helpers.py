"""The operator console's tests: an operator signed in to the admin (password and second factor),
and readers of the console's page and exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
from django.test import Client

from portal.models import User
from tests import factories
from tests.conftest import sign_in

INDEX = "/ops/"


def operator_client(client: Client, *, superuser: bool = True) -> tuple[Client, User]:
    ops = factories.operator()
    if superuser:
        ops.is_superuser = True
        ops.save(update_fields=["is_superuser"])
    sign_in(client, ops, second_factor=True)
    return client, ops


def listed_pks(client: Client, url: str) -> set[int]:
    """The primary keys an admin list shows (an invalid filter would redirect with ``?e=1``)."""
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    assert changelist.result_count == len(changelist.result_list), "more than one page"
    return {obj.pk for obj in changelist.result_list}


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def xlsx_rows(body: bytes) -> list[list[Any]]:
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]
