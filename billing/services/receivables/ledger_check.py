"""The nightly ledger check: the money invariants recomputed, stored, and alerted on drift."""

from __future__ import annotations

import logging
from typing import Any

from django.db.models import F, Sum
from django.utils.translation import gettext_lazy

from billing.invariants import LABELS, registered_invariants
from billing.models import Account, Invoice, LedgerCheck, Posting
from billing.money import ZERO
from portal.models import Company
from portal.notices import Notice, notice_compose, notice_link, notice_mail, operator_recipients

# The package's logger, named as before the split into modules.
logger = logging.getLogger("billing.services.receivables")


def _check_ledger_balanced() -> dict[str, Any]:
    total = Posting.objects.aggregate(total=Sum("amount"))["total"] or ZERO
    unbalanced = list(
        Posting.objects.values("entry_id")
        .annotate(s=Sum("amount"))
        .exclude(s=0)
        .order_by("entry_id")
        .values_list("entry_id", flat=True)[:20]
    )
    return {
        "ok": total == ZERO and not unbalanced,
        "expected": str(ZERO),
        "actual": str(total),
        "unbalanced_entries": unbalanced,
    }


def _check_receivables() -> dict[str, Any]:
    ledger = dict(
        Posting.objects.filter(account__kind=Account.Kind.RECEIVABLE)
        .values("account__company_id")
        .annotate(s=Sum("amount"))
        .values_list("account__company_id", "s")
    )
    invoices = dict(
        Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
        .exclude(status=Invoice.Status.VOID)
        .values("company_id")
        .annotate(s=Sum(F("total") - F("paid_amount")))
        .values_list("company_id", "s")
    )
    drift: list[dict[str, Any]] = []
    for company_id in sorted(set(ledger) | set(invoices)):
        in_ledger = ledger.get(company_id) or ZERO
        in_invoices = invoices.get(company_id) or ZERO
        if in_ledger != in_invoices:
            drift.append(
                {
                    "company_id": company_id,
                    "receivable": str(in_ledger),
                    "open_invoices": str(in_invoices),
                }
            )
    names = dict(
        Company.objects.filter(pk__in=[d["company_id"] for d in drift[:20]]).values_list(
            "pk", "legal_name"
        )
    )
    for item in drift:
        item["company"] = names.get(item["company_id"], "")
    return {
        "ok": not drift,
        "expected": str(sum(invoices.values(), ZERO)),
        "actual": str(sum(ledger.values(), ZERO)),
        "companies_checked": len(set(ledger) | set(invoices)),
        "drift": drift[:20],
        "drift_count": len(drift),
    }


# The registered checks' labels too (same dict).
CHECK_LABELS: dict[str, Any] = LABELS
CHECK_LABELS.update(
    {
        "ledger_balanced": gettext_lazy("The ledger sums to zero"),
        "receivables_match_invoices": gettext_lazy(
            "Each company's receivable equals its open invoice balances"
        ),
    }
)


def ledger_check_run() -> LedgerCheck:
    """Recompute the money invariants (the ledger balances; receivables equal open invoice
    balances; whatever other apps registered, such as card liability = live card balances),
    store the result, and on drift log an error and email the operators."""
    checks: list[tuple[str, Any]] = [
        ("ledger_balanced", _check_ledger_balanced),
        ("receivables_match_invoices", _check_receivables),
        *registered_invariants(),
    ]
    results: dict[str, Any] = {}
    for name, check in checks:
        try:
            results[name] = check()
        except Exception as exc:
            logger.exception("ledger check %s could not run", name)
            results[name] = {"ok": False, "error": type(exc).__name__}
    ok = all(bool(result.get("ok")) for result in results.values())
    run = LedgerCheck.objects.create(ok=ok, results=results)
    if not ok:
        failing = sorted(name for name, result in results.items() if not result.get("ok"))
        logger.error("ledger check %s found drift: %s", run.pk, ", ".join(failing))
        ledger_alert_send(run)
    return run


def ledger_alert_send(run: LedgerCheck) -> int:
    """Email the operators about a failed check; the number of recipients. Sent by the run that
    found the drift (a run is a new row each time: there is nothing to mark or lock)."""
    recipients = operator_recipients()
    if not recipients:
        logger.error("ledger check %s: no operator has an email address to alert", run.pk)
        return 0
    failing = [
        {"name": name, "label": CHECK_LABELS.get(name, name), **result}
        for name, result in sorted(run.results.items())
        if not result.get("ok")
    ]
    link = notice_link("admin:billing_ledgercheck_change", run.pk)
    subject, body = notice_compose(
        "emails/ledger_drift", {"run": run, "failing": failing, "link": link}
    )
    notice_mail(Notice(to=recipients, subject=subject, body=body))
    return len(recipients)
