"""Live data only: the one way reports leave test-mode data out.

Test API keys act on a company's **sandbox**, a Company row of its own (``Company.sandbox_of``;
docs/api.md, "Test mode"). A sandbox's orders are funded without an invoice, its cards are marked
``is_test`` and post nothing to the ledger, so the money invariants hold by themselves. What can
still mix test data into a figure is a query over *several* companies (an operator's key
figures, a compliance report, a platform-wide count): start such a query here.

- ``live_companies()``: the real companies (``Company.objects.live()``);
- ``live_rows(queryset)``: rows of a model with a ``company`` foreign key (orders, batches,
  invoices, uploads, expense reports...) that belong to a real company; ``company_field`` names
  another path (``"batch__company"``);
- cards: ``cards.selectors.live_cards()`` (``Card.is_test`` is on the card row itself, so the
  filter needs no join).

A query scoped to one real company (a buyer's dashboard, statement or export) needs nothing: a
sandbox's rows are never that company's.
"""

from __future__ import annotations

from django.db import models

from portal.models import Company


def live_companies() -> models.QuerySet[Company]:
    return Company.objects.live()


def live_rows[M: models.Model](
    queryset: models.QuerySet[M], *, company_field: str = "company"
) -> models.QuerySet[M]:
    """The rows of ``queryset`` whose company (at ``company_field``) is a real one."""
    return queryset.filter(**{f"{company_field}__sandbox_of__isnull": True})


def sandbox_rows[M: models.Model](
    queryset: models.QuerySet[M], *, company_field: str = "company"
) -> models.QuerySet[M]:
    """The rows of ``queryset`` that belong to a sandbox (for operators' tools only)."""
    return queryset.filter(**{f"{company_field}__sandbox_of__isnull": False})
