"""Fixtures for the reporting tests: a real SMTP server on localhost, sample sales, and
report definitions created through the service (so each has its beat entry)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from catalogue.models import Category, DailySales, Product
from reporting.services import report_definition_create
from tests.support.smtp import point_django_at, running_smtp_server

FRIDAY = dt.date(2026, 11, 20)
THURSDAY = dt.date(2026, 11, 19)
FORMULA_NAME = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free localhost port; Django's SMTP backend points at it.

    pytest-django's `settings` changes the process's settings, which the in-process
    worker's threads share.
    """
    with running_smtp_server() as handler:
        point_django_at(settings, handler)
        yield handler


@pytest.fixture
def fast_retries(settings):
    settings.REPORTING_SEND_MAX_RETRIES = 2
    settings.REPORTING_SEND_RETRY_BACKOFF = 0
    settings.REPORTING_SEND_RETRY_BACKOFF_MAX = 1
    return settings


@pytest.fixture
def sales(db):
    """Two business days of sales in two categories, and a product named like a formula."""
    bakery = Category.objects.create(code="BAK", name="Bakery")
    drinks = Category.objects.create(code="BEV", name="Beverages")
    products = [
        Product.objects.create(sku="SKU-1", name="Sourdough", category=bakery, unit_price=4),
        Product.objects.create(sku="SKU-2", name="Lemonade", category=drinks, unit_price=2),
        Product.objects.create(sku="SKU-3", name=FORMULA_NAME, category=drinks, unit_price=1),
    ]
    lines = []
    for store in ("S001", "S002"):
        for product, units_today, units_before in zip(products, (10, 5, 3), (8, 5, 1), strict=True):
            for day, units in ((FRIDAY, units_today), (THURSDAY, units_before)):
                lines.append(
                    DailySales(
                        day=day,
                        store_code=store,
                        sku=product.sku,
                        units=units,
                        unit_price=product.unit_price,
                        revenue=product.unit_price * units,
                    )
                )
    # A sale of a product the catalogue does not know yet still counts.
    lines.append(
        DailySales(
            day=FRIDAY,
            store_code="S001",
            sku="SKU-X",
            units=1,
            unit_price=Decimal("9.99"),
            revenue=Decimal("9.99"),
        )
    )
    DailySales.objects.bulk_create(lines)
    return products


@pytest.fixture
def make_definition(db):
    def make(**fields):
        values = {
            "name": "Daily sales",
            "kind": "end_of_day",
            "to_recipients": "ceo@example.com, ops@example.com",
            "cc_recipients": "audit@example.com",
            "timezone": "Europe/Berlin",
        }
        values.update(fields)
        return report_definition_create(**values)

    return make
