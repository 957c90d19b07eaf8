"""The catalog shows each product's description in the reader's language only, falling back to
the other language when the product has none in the reader's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.conftest import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client: Client) -> Client:
    company = factories.company()
    sign_in(client, factories.member(company, "purchaser"), second_factor=False)
    return client


def catalog(client: Client, language: str) -> str:
    response = client.get(reverse("cards:catalog"), HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.content.decode()


def test_each_reader_sees_the_description_in_their_language(reader: Client) -> None:
    product = factories.product(name="通用礼品卡")
    product.description = "不记名电子卡，有效期 3 年。"  # noqa: RUF001
    product.description_en = "Bearer e-card, valid 3 years."
    product.save()

    chinese = catalog(reader, "zh-hans")
    english = catalog(reader, "en")

    assert "不记名电子卡" in chinese
    assert "Bearer e-card" not in chinese
    assert "Bearer e-card" in english
    assert "不记名电子卡" not in english


def test_a_description_in_one_language_is_shown_in_both(reader: Client) -> None:
    product = factories.product(name="节日礼品卡")
    product.description = "仅限春节期间发放。"
    product.save()

    assert "仅限春节期间发放" in catalog(reader, "en")
    assert "仅限春节期间发放" in catalog(reader, "zh-hans")
