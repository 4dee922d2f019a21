"""Models a team might import into, each exercising model-level import behaviour."""

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class Owner(models.Model):
    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=50, blank=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.code


class ActiveOwnerManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(active=True)


class Tag(models.Model):
    name = models.CharField(max_length=20, unique=True)

    def __str__(self) -> str:
        return self.name


class Gauge(models.Model):
    """Every kind of column, and every way a value is given when the file has none."""

    code = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=20)
    note = models.TextField(null=True, blank=True)  # noqa: DJ001 (NULL: not given)
    count = models.IntegerField()
    small = models.PositiveSmallIntegerField(null=True, blank=True)
    amount = models.DecimalField(max_digits=7, decimal_places=2)
    ratio = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    day = models.DateField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(
        max_length=10, choices=[("a", "A"), ("b", "B")], default="a", blank=True
    )
    email = models.EmailField(blank=True)
    url = models.URLField(blank=True)
    score = models.IntegerField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )
    owner = models.ForeignKey(Owner, null=True, blank=True, on_delete=models.PROTECT)
    token = models.UUIDField(default=uuid.uuid4)
    received = models.DateTimeField(default=timezone.now)
    level = models.IntegerField(db_default=7)
    stamped = models.DateTimeField(db_default=Now())
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.code


class Item(models.Model):
    """Keyed by (owner, sku): a natural key with a foreign key in it; tags are m2m."""

    owner = models.ForeignKey(Owner, on_delete=models.PROTECT)
    sku = models.CharField(max_length=12)
    title = models.CharField(max_length=30, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "sku"], name="conf_item_key")]

    def __str__(self) -> str:
        return f"{self.owner_id}/{self.sku}"


class Filtered(models.Model):
    """A model whose default manager hides rows (soft delete)."""

    code = models.CharField(max_length=10, unique=True)
    value = models.IntegerField(default=0)
    active = models.BooleanField(default=True)

    objects = ActiveOwnerManager()

    def __str__(self) -> str:
        return self.code


class Audit(models.Model):
    """What the hooks of a Resource saw: written by after_save_instance/after_import_row."""

    code = models.CharField(max_length=20)
    event = models.CharField(max_length=40)
    detail = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.code} {self.event}"


class Loose(models.Model):
    """No unique constraint on the natural key the Resource uses."""

    code = models.CharField(max_length=10)
    value = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.code


class Saved(models.Model):
    """save() computes a field: bulk writes would skip it."""

    code = models.CharField(max_length=10, unique=True)
    upper = models.CharField(max_length=10, blank=True)

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        self.upper = self.code.upper()
        super().save(*args, **kwargs)


class Signalled(models.Model):
    code = models.CharField(max_length=10, unique=True)

    def __str__(self) -> str:
        return self.code


def signalled_saved(sender, instance, **kwargs) -> None:
    Audit.objects.create(code=instance.code, event="post_save")


class ChildGauge(Owner):
    """Multi-table inheritance: a row spans two tables."""

    extra = models.CharField(max_length=10, blank=True)


class UpperCaseCharField(models.CharField):
    """A team's own field: it stores its text upper-cased (its `get_prep_value`)."""

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value.upper() if isinstance(value, str) else value


class Prepared(models.Model):
    """Values Django prepares for the database in a field's own way: the compatible
    path writes a built-in field's value as it is when Django would give it back
    unchanged, and always asks a field subclass."""

    code = models.CharField(max_length=10, unique=True)
    shout = UpperCaseCharField(max_length=10, blank=True)
    count = models.IntegerField(null=True, blank=True)
    owner = models.ForeignKey(Owner, null=True, blank=True, on_delete=models.SET_NULL)
    note = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.code
