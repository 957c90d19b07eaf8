"""Portal pages that list: the catalog, the order list (and its export) and the approvals queue.
Views read through ``cards.selectors`` scoped by ``portal.access``."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header

from cards import exports, selectors
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


def filtered_orders(
    request: HttpRequest,
) -> tuple[OrderFilterForm, selectors.OrderFilters, QuerySet[Order]]:
    """The order list's filter form, what it filters by, and the company's orders it leaves:
    the list and its export read the same rows."""
    orders = company_objects(request, Order)
    form = OrderFilterForm(request.GET or None, creators=selectors.order_creators(orders))
    filters = form.filters()
    return form, filters, selectors.orders_search(orders, filters)


@company_member_required
def order_list(request: HttpRequest) -> HttpResponse:
    form, filters, orders = filtered_orders(request)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    export_query = request.GET.copy()
    export_query.pop("page", None)
    return render(
        request,
        "cards/order_list.html",
        {
            "form": form,
            "page": page,
            "filtered": filters != selectors.OrderFilters(),
            "export_query": export_query.urlencode(),
            "can_order": can(request, Action.ORDER_CREATE),
            "order_refusal": policy.refusal(Action.ORDER_CREATE),
        },
    )


# policy_required is typed for HttpResponse views; this one streams.
@policy_required(Action.ORDER_READ)  # type: ignore[arg-type]
def order_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """The orders the list shows (same filters), with their lines, as CSV or XLSX."""
    if fmt not in exports.FORMATS:
        raise Http404
    _form, _filters, orders = filtered_orders(request)
    response: HttpResponseBase
    if fmt == "csv":
        response = StreamingHttpResponse(
            exports.order_export_csv(orders), content_type=exports.CONTENT_TYPES["csv"]
        )
        response["Content-Disposition"] = content_disposition_header(
            True, exports.order_export_filename(fmt)
        )
    else:
        response = FileResponse(
            exports.order_export_xlsx(orders),
            as_attachment=True,
            filename=exports.order_export_filename(fmt),
            content_type=exports.CONTENT_TYPES["xlsx"],
        )
    add_never_cache_headers(response)
    return response


# --- Approvals -----------------------------------------------------------------------------------


@policy_required(Action.ORDER_APPROVE)
def approvals(request: HttpRequest) -> HttpResponse:
    waiting = selectors.orders_awaiting_approval(company_objects(request, Order))
    page = Paginator(waiting, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "cards/approvals.html", {"page": page})
