"""Reads of the sample domain's sales. Every aggregate runs in PostgreSQL; the number of
queries does not grow with the number of sales lines or products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, DecimalField, IntegerField, Q, Sum, Value
from django.db.models.functions import Coalesce

from catalogue.models import Category, DailySales, Product

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


# DailySales.sku is a plain string (sales may arrive before, or without, their product), so
# the join to Product is on sku, LEFT so unknown products still count. Written as SQL:
# the ORM can only express it as a correlated subquery per sales line, which grouped
# 24,000 lines ten times slower than this join (see docs/reporting.md).
_SALES_OF_TWO_DAYS = """
    FROM {sales} s
    LEFT JOIN {product} p ON p.sku = s.sku
    LEFT JOIN {category} c ON c.id = p.category_id
    WHERE s.day IN (%(day)s, %(previous)s)
"""
_DAY_SUMS = """
    COALESCE(SUM(s.units) FILTER (WHERE s.day = %(day)s), 0) AS units,
    COALESCE(SUM(s.revenue) FILTER (WHERE s.day = %(day)s), 0.00) AS revenue,
    COALESCE(SUM(s.revenue) FILTER (WHERE s.day = %(previous)s), 0.00) AS previous_revenue,
    COALESCE(SUM(s.revenue) FILTER (WHERE s.day = %(day)s), 0.00)
      - COALESCE(SUM(s.revenue) FILTER (WHERE s.day = %(previous)s), 0.00) AS change
"""


def _sales_query(select: str, rest: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    tables = {
        "sales": DailySales._meta.db_table,
        "product": Product._meta.db_table,
        "category": Category._meta.db_table,
    }
    sql = f"SELECT {select}, {_DAY_SUMS} {_SALES_OF_TWO_DAYS.format(**tables)} {rest}"
    with connection.cursor() as cursor:
        cursor.execute(sql, {"unknown": UNKNOWN_PRODUCT, **params})
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def sales_by_category(*, day: dt.date, previous_day: dt.date) -> list[dict[str, Any]]:
    """One query: revenue and units per category for the day and the previous business day."""
    return _sales_query(
        "COALESCE(c.name, %(unknown)s) AS category",
        "GROUP BY 1 ORDER BY revenue DESC, category",
        {"day": day, "previous": previous_day},
    )


_PRODUCT_COLUMNS = """
    s.sku, COALESCE(p.name, %(unknown)s) AS name, COALESCE(c.name, %(unknown)s) AS category,
    COUNT(DISTINCT s.store_code) FILTER (WHERE s.day = %(day)s AND s.units > 0) AS stores
"""


def top_products(*, day: dt.date, previous_day: dt.date, limit: int) -> list[dict[str, Any]]:
    """One query: the day's best-selling products by revenue."""
    return _sales_query(
        _PRODUCT_COLUMNS,
        "GROUP BY s.sku, p.name, c.name "
        "HAVING COALESCE(SUM(s.revenue) FILTER (WHERE s.day = %(day)s), 0) > 0 "
        "ORDER BY revenue DESC, s.sku LIMIT %(limit)s",
        {"day": day, "previous": previous_day, "limit": limit},
    )


def product_detail(*, day: dt.date, previous_day: dt.date) -> list[dict[str, Any]]:
    """One query: every product sold on either day, for the CSV attachment."""
    return _sales_query(
        _PRODUCT_COLUMNS,
        "GROUP BY s.sku, p.name, c.name ORDER BY category, s.sku",
        {"day": day, "previous": previous_day},
    )
