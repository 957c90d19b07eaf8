"""Portal pages that list: the catalog, the order list and the approvals queue. Views read
through ``cards.selectors`` scoped by ``portal.access``."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cards import selectors
from cards.forms import OrderFilterForm
from cards.models import Order
from portal import policy
from portal.access import (
    active_company,
    can,
    company_member_required,
    company_objects,
    policy_required,
)
from portal.policy import Action

ORDERS_PER_PAGE = 25


# --- Catalog -------------------------------------------------------------------------------------


@company_member_required
def catalog(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "cards/catalog.html",
        {
            "products": selectors.catalog_products(active_company(request)),
            "can_order": can(request, Action.ORDER_CREATE),
            "order_refusal": policy.refusal(Action.ORDER_CREATE),
        },
    )


# --- Order list ----------------------------------------------------------------------------------


@company_member_required
def order_list(request: HttpRequest) -> HttpResponse:
    orders = company_objects(request, Order)
    form = OrderFilterForm(
        request.GET or None, creators=selectors.order_creators(company_objects(request, Order))
    )
    filters = form.filters()
    page = Paginator(selectors.orders_search(orders, filters), ORDERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "cards/order_list.html",
        {
            "form": form,
            "page": page,
            "filtered": filters != selectors.OrderFilters(),
            "can_order": can(request, Action.ORDER_CREATE),
            "order_refusal": policy.refusal(Action.ORDER_CREATE),
        },
    )


# --- Approvals -----------------------------------------------------------------------------------


@policy_required(Action.ORDER_APPROVE)
def approvals(request: HttpRequest) -> HttpResponse:
    waiting = selectors.orders_awaiting_approval(company_objects(request, Order))
    page = Paginator(waiting, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "cards/approvals.html", {"page": page})
