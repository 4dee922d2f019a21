"""factory_boy factories for the rows tests build again and again.

    staff = StaffFactory(permissions=["batches.run_import", "batches.view_import"])
    product = ProductFactory(category__code="BAK")
    AlertFactory(kind="queue_stalled", subject="imports")

Every user's password is `pw`. Import jobs made here are rows only (no stored file):
for a job that is imported, use `tests.support.imports.make_job`, which stores the file
the way an upload does.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone
from factory.django import DjangoModelFactory

from batches.models import ImportJob
from catalogue.models import Airport, Category, DailySales, Product
from ops.models import Alert

PASSWORD = "pw"


def permissions_named(*names: str) -> list[Permission]:
    """Permissions from `app_label.codename` names; an unknown name fails loudly."""
    found = []
    for name in names:
        app_label, _, codename = name.partition(".")
        try:
            found.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        except Permission.DoesNotExist:
            raise LookupError(f"no permission {name!r}") from None
    return found


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def permissions(self, create: bool, names, **kwargs) -> None:
        """`permissions=["app_label.codename", ...]`: exactly these, nothing else."""
        if create and names:
            self.user_permissions.add(*permissions_named(*names))


class StaffFactory(UserFactory):
    """A staff user: may log in to the admin, sees what its permissions allow."""

    is_staff = True


class SuperuserFactory(StaffFactory):
    is_superuser = True


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"C{n:03d}")
    name = factory.LazyAttribute(lambda category: f"Category {category.code}")


class ProductFactory(DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ("sku",)

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.LazyAttribute(lambda product: f"Product {product.sku}")
    category = factory.SubFactory(CategoryFactory)
    unit_price = Decimal("2.50")


class DailySalesFactory(DjangoModelFactory):
    class Meta:
        model = DailySales

    day = dt.date(2026, 11, 20)
    store_code = factory.Sequence(lambda n: f"S{n:03d}")
    sku = factory.LazyFunction(lambda: ProductFactory().sku)
    units = 3
    unit_price = Decimal("2.50")
    revenue = factory.LazyAttribute(lambda line: line.unit_price * line.units - line.discount)
    discount = Decimal("0.00")


class AirportFactory(DjangoModelFactory):
    class Meta:
        model = Airport
        django_get_or_create = ("iata",)

    iata = factory.Sequence(lambda n: f"X{n:02d}")
    name = factory.LazyAttribute(lambda airport: f"{airport.iata} Municipal")
    city = "Springfield"
    state = "IL"
    country = "USA"
    latitude = Decimal("39.84395194")
    longitude = Decimal("-89.67761861")


class ImportJobFactory(DjangoModelFactory):
    """A finished import job row, as the job list, the report and ops read it."""

    class Meta:
        model = ImportJob

    dataset = "airports"
    status = ImportJob.Status.SUCCEEDED
    source = ImportJob.Source.CLI
    file = factory.Sequence(lambda n: f"imports/uploads/upload-{n}.csv")
    original_name = "airports.csv"
    started_at = factory.LazyFunction(timezone.now)
    finished_at = factory.LazyAttribute(lambda job: job.started_at)
    rows_total = 10
    rows_new = 10


class AlertFactory(DjangoModelFactory):
    """An open red alert; pass `status=Alert.Status.RESOLVED` with `resolved_at` for history."""

    class Meta:
        model = Alert

    kind = "queue_stalled"
    subject = factory.Sequence(lambda n: f"queue-{n}")
    severity = Alert.Severity.RED
    message = factory.LazyAttribute(lambda alert: f"{alert.kind} on {alert.subject}")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyAttribute(lambda alert: alert.first_seen_at)
