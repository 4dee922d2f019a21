"""Reads for reports. Every aggregate runs in PostgreSQL; the number of queries does not
grow with the number of sales lines, products or import jobs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from batches.models import ImportJob
from catalogue.models import DailySales, Product
from ops.models import Alert
from reporting.models import ReportDefinition, ReportRun
from schedules.models import TaskRun

ZERO = Decimal("0.00")
UNKNOWN_PRODUCT = "(unknown product)"


def _money_sum(field: str, **filters: Any) -> Coalesce:
    return Coalesce(
        Sum(field, filter=Q(**filters)),
        Value(ZERO),
        output_field=DecimalField(max_digits=18, decimal_places=2),
    )


def _int_sum(field: str, **filters: Any) -> Coalesce:
    return Coalesce(Sum(field, filter=Q(**filters)), Value(0), output_field=IntegerField())


def _product(field: str) -> Subquery:
    # DailySales.sku is a plain string (sales arrive before or without their product);
    # a correlated subquery on the unique Product.sku index is the join.
    return Subquery(Product.objects.filter(sku=OuterRef("sku")).values(field)[:1])


def _unprefixed(rows) -> list[dict[str, Any]]:
    # Annotations may not reuse a model field's name (revenue, units); they are named
    # day_revenue / day_units in SQL and handed to templates without the prefix.
    return [{name.removeprefix("day_"): value for name, value in row.items()} for row in rows]


def sales_totals(*, day: dt.date, previous_day: dt.date) -> dict[str, Any]:
    """One query: the day's and the previous business day's totals."""
    # Aggregate names must not shadow the model's fields (revenue, units): prefixed, then renamed.
    totals = DailySales.objects.filter(day__in=[day, previous_day]).aggregate(
        total_revenue=_money_sum("revenue", day=day),
        total_units=_int_sum("units", day=day),
        total_lines=Count("id", filter=Q(day=day)),
        total_stores=Count("store_code", filter=Q(day=day), distinct=True),
        total_previous_revenue=_money_sum("revenue", day=previous_day),
        total_previous_units=_int_sum("units", day=previous_day),
    )
    return {name.removeprefix("total_"): value for name, value in totals.items()}


def sales_by_category(*, day: dt.date, previous_day: dt.date) -> list[dict[str, Any]]:
    """One query: revenue and units per category for the day and the previous business day."""
    return _unprefixed(
        DailySales.objects.filter(day__in=[day, previous_day])
        .annotate(category=Coalesce(_product("category__name"), Value(UNKNOWN_PRODUCT)))
        .values("category")
        .annotate(
            day_revenue=_money_sum("revenue", day=day),
            day_units=_int_sum("units", day=day),
            previous_revenue=_money_sum("revenue", day=previous_day),
        )
        .order_by("-day_revenue", "category")
    )


def sales_by_product(*, day: dt.date, previous_day: dt.date) -> QuerySet:
    """Per product: units, revenue and the previous business day's revenue.

    Grouped by sku first; name and category are looked up once per group, not per line.
    """
    return (
        DailySales.objects.filter(day__in=[day, previous_day])
        .values("sku")
        .annotate(
            day_units=_int_sum("units", day=day),
            day_revenue=_money_sum("revenue", day=day),
            previous_revenue=_money_sum("revenue", day=previous_day),
            stores=Count("store_code", filter=Q(day=day, units__gt=0), distinct=True),
        )
        .annotate(
            name=Coalesce(_product("name"), Value(UNKNOWN_PRODUCT)),
            category=Coalesce(_product("category__name"), Value(UNKNOWN_PRODUCT)),
            change=F("day_revenue") - F("previous_revenue"),
        )
    )


def top_products(*, day: dt.date, previous_day: dt.date, limit: int) -> list[dict[str, Any]]:
    return _unprefixed(
        sales_by_product(day=day, previous_day=previous_day)
        .filter(day_revenue__gt=0)
        .order_by("-day_revenue", "sku")[:limit]
    )


def product_detail(*, day: dt.date, previous_day: dt.date) -> list[dict[str, Any]]:
    return _unprefixed(
        sales_by_product(day=day, previous_day=previous_day).order_by("category", "sku")
    )


IMPORT_FAILURE_STATUSES = [ImportJob.Status.FAILED, ImportJob.Status.PARTIALLY_FAILED]


def imports_of_day(*, start: dt.datetime, end: dt.datetime, limit: int = 20) -> dict[str, Any]:
    """Two queries: totals of the import jobs created in [start, end), and the failures."""
    jobs = ImportJob.objects.filter(created_at__gte=start, created_at__lt=end)
    totals = jobs.aggregate(
        runs=Count("id"),
        rows_in=Coalesce(Sum(F("rows_new") + F("rows_updated") + F("rows_unchanged")), Value(0)),
        rows_new=Coalesce(Sum("rows_new"), Value(0)),
        rows_rejected=Coalesce(Sum("rows_rejected"), Value(0)),
        failures=Count("id", filter=Q(status__in=IMPORT_FAILURE_STATUSES)),
    )
    totals["failed_jobs"] = list(
        jobs.filter(status__in=IMPORT_FAILURE_STATUSES)
        .order_by("created_at")
        .values("id", "dataset", "status", "rows_total", "rows_rejected", "error")[:limit]
    )
    return totals


PERIODIC_PROBLEM_STATUSES = [TaskRun.Status.FAILED, TaskRun.Status.SKIPPED, TaskRun.Status.MISSED]


def periodic_runs_of_day(
    *, start: dt.datetime, end: dt.datetime, limit: int = 20
) -> dict[str, Any]:
    """Two queries: periodic runs queued in [start, end) by outcome, and the problem runs."""
    runs = TaskRun.objects.filter(queued_at__gte=start, queued_at__lt=end)
    totals = runs.aggregate(
        runs=Count("id"),
        succeeded=Count("id", filter=Q(status=TaskRun.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=TaskRun.Status.FAILED)),
        skipped=Count("id", filter=Q(status=TaskRun.Status.SKIPPED)),
        missed=Count("id", filter=Q(status=TaskRun.Status.MISSED)),
    )
    totals["problems"] = list(
        runs.filter(status__in=PERIODIC_PROBLEM_STATUSES)
        .order_by("queued_at")
        .values("task_name", "status", "queued_at", "error")[:limit]
    )
    return totals


def open_alerts(*, limit: int = 20) -> dict[str, Any]:
    """Two queries: how many ops alerts are open now, and the newest of them."""
    alerts = Alert.objects.filter(status=Alert.Status.OPEN)
    return {
        "count": alerts.count(),
        "items": list(
            alerts.order_by("-last_seen_at").values(
                "kind", "subject", "severity", "first_seen_at", "last_seen_at"
            )[:limit]
        ),
    }


def report_runs_for_admin() -> QuerySet:
    return ReportRun.objects.select_related("definition", "requested_by")


def definitions_enabled() -> QuerySet:
    return ReportDefinition.objects.filter(enabled=True)
