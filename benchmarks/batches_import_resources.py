"""The compatible-path dataset of benchmarks/batches_import.py (imported by its worker too).

A team-style Resource over the same daily-sales model and file: a `before_import_row`
hook and custom widgets on half of its eight columns, so the dataset takes the
compatible path (django-import-export's own row steps, per chunk, in bulk).
"""

from __future__ import annotations

from import_export import fields, widgets

from batches import registry
from catalogue.resources import DailySalesResource

DATASET = "bench_sales_hooked"
MISSING = {"M", "N/A"}


class MissingIntegerWidget(widgets.IntegerWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().upper() in MISSING:
            return None
        return super().clean(value, row, **kwargs)


class MissingDecimalWidget(widgets.DecimalWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().upper() in MISSING:
            return None
        return super().clean(value, row, **kwargs)


class HookedSalesResource(DailySalesResource):
    units = fields.Field(attribute="units", column_name="units", widget=MissingIntegerWidget())
    unit_price = fields.Field(
        attribute="unit_price", column_name="unit_price", widget=MissingDecimalWidget()
    )
    discount = fields.Field(
        attribute="discount", column_name="discount", widget=MissingDecimalWidget()
    )
    revenue = fields.Field(
        attribute="revenue", column_name="revenue", widget=MissingDecimalWidget()
    )

    class Meta(DailySalesResource.Meta):
        pass

    def before_import_row(self, row, **kwargs):
        row["currency"] = (row.get("currency") or "").strip().upper()


if DATASET not in {d.name for d in registry.all_datasets()}:
    registry.register(DATASET, HookedSalesResource, label="Daily sales (hooked, benchmark)")
