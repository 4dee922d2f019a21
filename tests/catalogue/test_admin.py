"""The sample domain's admin pages: they load for staff with the right permissions, search
and filter, make a fixed number of queries, and stay closed to everyone else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from tests.support.factories import (
    AirportFactory,
    DailySalesFactory,
    ProductFactory,
    StaffFactory,
    SuperuserFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = ["category", "product", "dailysales", "airport"]


@pytest.fixture
def rows():
    product = ProductFactory(sku="SKU-00001", name="Sourdough", category__code="BAK")
    return {
        "product": product,
        "category": product.category,
        "dailysales": DailySalesFactory(sku=product.sku, day=dt.date(2026, 11, 20)),
        "airport": AirportFactory(iata="ORD", name="Chicago O'Hare International"),
    }


def _pages(rows, model: str) -> dict[str, str]:
    return {
        "list": reverse(f"admin:catalogue_{model}_changelist"),
        "add": reverse(f"admin:catalogue_{model}_add"),
        "change": reverse(f"admin:catalogue_{model}_change", args=[rows[model].pk]),
    }


@pytest.mark.parametrize("model", MODELS)
def test_every_catalogue_page_loads_for_an_admin_and_shows_the_row(client, rows, model):
    client.force_login(SuperuserFactory())
    pages = _pages(rows, model)
    for name, url in pages.items():
        assert client.get(url).status_code == 200, f"{model} {name}: {url}"
    listing = client.get(pages["list"]).content.decode()
    # Each row's checkbox is labelled with the row's name, HTML-escaped.
    assert str(rows[model]).replace("'", "&#x27;") in listing


def test_a_staff_user_who_may_only_view_sees_the_pages_but_cannot_add(client, rows):
    client.force_login(StaffFactory(permissions=[f"catalogue.view_{model}" for model in MODELS]))
    for model in MODELS:
        pages = _pages(rows, model)
        assert client.get(pages["list"]).status_code == 200
        change = client.get(pages["change"])
        assert change.status_code == 200
        assert 'name="_save"' not in change.content.decode()  # read-only view
        assert client.get(pages["add"]).status_code == 403


def test_staff_without_catalogue_permissions_get_403_and_others_the_login_page(client, rows):
    client.force_login(StaffFactory())
    for model in MODELS:
        assert client.get(_pages(rows, model)["list"]).status_code == 403

    client.force_login(UserFactory())  # not staff
    response = client.get(_pages(rows, "airport")["list"])
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_search_and_filters_find_the_rows(client, rows):
    AirportFactory(iata="ROR", name="Babelthoup/Koror", country="Palau")
    client.force_login(SuperuserFactory())
    airports = reverse("admin:catalogue_airport_changelist")

    found = client.get(airports, {"q": "O'Hare"}).content.decode()
    assert "ORD" in found
    assert "ROR" not in found
    palau = client.get(airports, {"country": "Palau"}).content.decode()
    assert "Babelthoup/Koror" in palau
    assert "ORD" not in palau

    products = reverse("admin:catalogue_product_changelist")
    by_category = client.get(products, {"category__id__exact": rows["category"].pk})
    assert "Sourdough" in by_category.content.decode()
    sales = reverse("admin:catalogue_dailysales_changelist")
    on_the_day = client.get(sales, {"day__year": 2026, "day__month": 11, "day__day": 20})
    assert on_the_day.status_code == 200
    assert "SKU-00001" in on_the_day.content.decode()


def test_the_product_list_makes_the_same_queries_for_5_or_50_products(
    client, django_assert_max_num_queries
):
    client.force_login(SuperuserFactory())
    url = reverse("admin:catalogue_product_changelist")
    ProductFactory.create_batch(5)
    client.get(url)  # warm the per-process caches (content types, permissions)
    with django_assert_max_num_queries(100) as few:
        client.get(url)
    ProductFactory.create_batch(45)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)
