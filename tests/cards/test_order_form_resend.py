"""One form, one order (issue 11, defect 12).

The new-order form carries a one-time token made when it is shown; the token is the order's
idempotency key, held by a unique index. A second post of the same form (a double click on
"Save and submit", a resend) lands on the order the first one made, even when both arrive at
once; a reference another order already has names that order, with a link.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client

from cards.models import Order, OrderStatus
from tests.cards.test_views import Shop, form_data, make_order, shop, text_of

__all__ = ["shop"]  # the fixture, imported to be used here

pytestmark = pytest.mark.usefixtures("english_and_fast_hashing")


def shown_form_fields(client: Client) -> dict[str, str]:
    """The hidden fields of the new-order form as the page shows it (the token among them)."""
    page = client.get("/orders/new/").content.decode()
    hidden = r'<input type="hidden" name="(?!csrfmiddlewaretoken|lines-)([\w-]+)" value="([^"]*)"'
    return dict(re.findall(hidden, page))


def one_line(shop: Shop, **fields: Any) -> dict[str, Any]:
    lines = [{"product": shop.product, "face_value": "100", "quantity": "2"}]
    return form_data(lines, action="submit", **fields)


@pytest.mark.django_db
def test_the_same_form_sent_twice_makes_one_order_and_the_second_lands_on_it(shop: Shop) -> None:
    client = shop.client("purchaser")
    data = one_line(shop, client_reference="PO-77", **shown_form_fields(client))

    first = client.post("/orders/new/", data)
    second = client.post("/orders/new/", data)

    order = Order.objects.get(company=shop.company)
    assert order.status != OrderStatus.DRAFT
    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"] == f"/orders/{order.number}/"
    said = [str(m) for m in get_messages(second.wsgi_request)]
    assert any(f"already sent and created order {order.number}" in text for text in said), said
    assert "already used" not in " ".join(said)


@pytest.mark.django_db
def test_two_forms_shown_make_two_orders(shop: Shop) -> None:
    client = shop.client("purchaser")

    client.post("/orders/new/", one_line(shop, **shown_form_fields(client)))
    client.post("/orders/new/", one_line(shop, **shown_form_fields(client)))

    assert Order.objects.filter(company=shop.company).count() == 2


def post_together(clients: list[Client], data: dict[str, Any]) -> list[Any]:
    """Each client posts ``data`` to the new-order form from its own thread (its own database
    connection), all released at once."""
    from django.db import connections

    start = threading.Barrier(len(clients))
    answers: list[Any] = []
    failures: list[BaseException] = []

    def send(client: Client) -> None:
        try:
            start.wait(timeout=10)
            answers.append(client.post("/orders/new/", data))
        except BaseException as exc:  # reported in the test's thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_form_make_one_order(shop: Shop) -> None:
    assert connection.vendor == "postgresql"
    rounds, senders = 3, 4
    for _round in range(rounds):
        data = one_line(shop, **shown_form_fields(shop.client("purchaser")))

        answers = post_together([shop.client("purchaser") for _ in range(senders)], data)

        assert len(answers) == senders
        assert {answer.status_code for answer in answers} == {302}
        assert len({answer["Location"] for answer in answers}) == 1

    assert Order.objects.filter(company=shop.company).count() == rounds


@pytest.mark.django_db
def test_a_reference_already_used_names_and_links_the_order_that_has_it(shop: Shop) -> None:
    existing = make_order(shop, client_reference="PO-1")
    client = shop.client("purchaser")

    response = client.post(
        "/orders/new/", one_line(shop, client_reference="PO-1", **shown_form_fields(client))
    )

    assert response.status_code == 200
    assert f"Your reference “PO-1” is already used by order {existing.number}." in text_of(response)
    assert f'href="/orders/{existing.number}/"' in response.content.decode()
    assert Order.objects.filter(company=shop.company).count() == 1
