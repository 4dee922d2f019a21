"""The catalogue of Resources: one or more per import-time feature of django-import-export.

`IDENTICAL` lists Resources the platform must import exactly as `import_data()` does,
with the path it must take; `REFUSED` those `registry.register()` must refuse, with a
word the refusal must name; `CHECKED` those a system check must fail.
"""

from __future__ import annotations

import re

from import_export import fields, instance_loaders, resources, widgets

from tests.conformance.models import (
    Audit,
    ChildGauge,
    Filtered,
    Gauge,
    Item,
    Loose,
    Owner,
    Prepared,
    Saved,
    Signalled,
    Tag,
)

GAUGE_FIELDS = (
    "code", "name", "note", "count", "small", "amount", "ratio", "active", "day", "seen_at",
    "kind", "email", "url", "score", "owner",
)  # fmt: skip


# --- widgets a team writes ------------------------------------------------------------------


class PlaceholderIntegerWidget(widgets.IntegerWidget):
    """NOAA-style files write a missing number as a word: read it as None."""

    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().upper() in {"M", "N/A", "MISSING"}:
            return None
        return super().clean(value, row, **kwargs)


class PlaceholderDecimalWidget(widgets.DecimalWidget):
    def clean(self, value, row=None, **kwargs):
        if isinstance(value, str) and value.strip().upper() in {"M", "T", "N/A"}:
            return None
        return super().clean(value, row, **kwargs)


class UpperCharWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return super().clean(value, row, **kwargs).upper()


class YesNoWidget(widgets.BooleanWidget):
    TRUE_VALUES = ["yes", "y", "1"]
    FALSE_VALUES = ["no", "n", "0"]
    NULL_VALUES = [""]


class DayFirstDateWidget(widgets.DateWidget):
    def __init__(self):
        super().__init__(format="%d.%m.%Y")


class RowAwareWidget(widgets.CharWidget):
    """A widget reading another column of the row (import_data passes it the row)."""

    def clean(self, value, row=None, **kwargs):
        return f"{value}-{row['count']}-{kwargs['row_number']}"


class BlankIsNoneWidget(widgets.CharWidget):
    def clean(self, value, row=None, **kwargs):
        return value or None


class RowNumberWidget(widgets.CharWidget):
    """Reads row_number: the same cell is another value on another row."""

    def clean(self, value, row=None, **kwargs):
        return f"{super().clean(value, row, **kwargs)}#{kwargs['row_number']}"


class OtherColumnWidget(widgets.CharWidget):
    """Reads another cell of the row."""

    def clean(self, value, row=None, **kwargs):
        return f"{value}/{row['name']}" if value else None


class ActiveOwnerWidget(widgets.ForeignKeyWidget):
    def get_queryset(self, value, row, *args, **kwargs):
        return Owner.objects.filter(active=True)


class TrimmedField(fields.Field):
    """Field.clean overridden: surrounding spaces dropped before the widget's value."""

    def clean(self, row, **kwargs):
        value = super().clean(row, **kwargs)
        return value.strip() if isinstance(value, str) else value


# --- the fast path --------------------------------------------------------------------------


class GaugeResource(resources.ModelResource):
    """Introspected fields, built-in widgets, model defaults for what the file lacks."""

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = GAUGE_FIELDS


class GaugeOwnerCodeResource(resources.ModelResource):
    """A plain ForeignKeyWidget by code, declared fields with their own defaults."""

    owner = fields.Field(
        attribute="owner", column_name="owner", widget=widgets.ForeignKeyWidget(Owner, "code")
    )
    name = fields.Field(attribute="name", column_name="name", default="unnamed")
    active = fields.Field(
        attribute="active", column_name="active", widget=widgets.BooleanWidget(), default=False
    )

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "active", "owner")


class GaugeCustomWidgetsResource(resources.ModelResource):
    """Custom widgets (placeholders, upper case, yes/no, day-first dates), a Field.clean
    override, a widget reading the row, a readonly and an export-only column."""

    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())
    small = fields.Field(attribute="small", column_name="small", widget=PlaceholderIntegerWidget())
    amount = fields.Field(
        attribute="amount", column_name="amount", widget=PlaceholderDecimalWidget()
    )
    name = TrimmedField(attribute="name", column_name="name", widget=UpperCharWidget())
    active = fields.Field(attribute="active", column_name="active", widget=YesNoWidget())
    day = fields.Field(attribute="day", column_name="day", widget=DayFirstDateWidget())
    note = fields.Field(attribute="note", column_name="note", widget=RowAwareWidget())
    kind = fields.Field(attribute="kind", column_name="kind", readonly=True)
    label = fields.Field(column_name="label")  # export only: read and ignored

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "small", "amount", "active", "day", "note", "kind",
                  "label", "owner__name")  # fmt: skip


class GaugeByValueResource(resources.ModelResource):
    """Columns converted once per distinct value in a chunk (pure widgets: placeholders,
    yes/no, day-first dates, a DateTimeWidget with its own format), beside widgets that
    read the row or its number (refused: converted cell by cell)."""

    name = fields.Field(attribute="name", column_name="name", widget=RowNumberWidget())
    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())
    small = fields.Field(attribute="small", column_name="small", widget=PlaceholderIntegerWidget())
    amount = fields.Field(
        attribute="amount", column_name="amount", widget=PlaceholderDecimalWidget()
    )
    note = fields.Field(attribute="note", column_name="note", widget=OtherColumnWidget())
    seen_at = fields.Field(
        attribute="seen_at",
        column_name="seen_at",
        widget=widgets.DateTimeWidget(format="%d/%m/%Y %H:%M"),
    )
    active = fields.Field(attribute="active", column_name="active", widget=YesNoWidget())
    day = fields.Field(attribute="day", column_name="day", widget=DayFirstDateWidget())

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "small", "amount", "note", "seen_at", "active", "day")


class ItemSkipUnchangedResource(resources.ModelResource):
    class Meta:
        model = Item
        import_id_fields = ("owner", "sku")
        fields = ("owner", "sku", "title", "price")
        skip_unchanged = True
        report_skipped = False


class ItemResource(resources.ModelResource):
    """A natural key with a foreign key in it, by the owner's code."""

    owner = fields.Field(
        attribute="owner", column_name="owner", widget=widgets.ForeignKeyWidget(Owner, "code")
    )

    class Meta:
        model = Item
        import_id_fields = ("owner", "sku")
        fields = ("owner", "sku", "title", "price")


class CachedLoaderResource(resources.ModelResource):
    class Meta:
        model = Owner
        import_id_fields = ("code",)
        fields = ("code", "name")
        instance_loader_class = instance_loaders.CachedInstanceLoader


# --- the compatible path --------------------------------------------------------------------


class HookedGaugeResource(resources.ModelResource):
    """Row hooks: the row changed before import, the instance after init and before
    save, an audit after save (with the new pk) and after the row."""

    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "note")
        store_instance = True
        store_row_values = True

    def before_import_row(self, row, **kwargs):
        row["name"] = (row.get("name") or "").strip() or f"gauge {row['code']}"
        row["note"] = f"row {kwargs['row_number']}"

    def after_init_instance(self, instance, new, row, **kwargs):
        if new:
            instance.kind = "b"

    def before_save_instance(self, instance, row, **kwargs):
        instance.ratio = float(instance.count or 0) / 2

    def after_save_instance(self, instance, row, **kwargs):
        Audit.objects.create(code=instance.code, event="saved", detail=str(bool(instance.pk)))

    def after_import_row(self, row, row_result, **kwargs):
        Audit.objects.create(
            code=row["code"],
            event=f"row {row_result.import_type}",
            detail=f"{bool(row_result.object_id)} {row_result.instance is not None} "
            f"{sorted(row_result.row_values)}",
        )


class HookedByValueResource(resources.ModelResource):
    """The compatible path with columns cleaned once per distinct value, and a hook
    that changes a widget between rows (its answers must then not be reused)."""

    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())
    amount = fields.Field(
        attribute="amount", column_name="amount", widget=PlaceholderDecimalWidget()
    )
    day = fields.Field(attribute="day", column_name="day", widget=widgets.DateWidget("%Y-%m-%d"))
    name = fields.Field(attribute="name", column_name="name", widget=RowNumberWidget())

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "day", "note")

    def before_import_row(self, row, **kwargs):
        european = row.get("note") == "eu"
        self.fields["day"].widget.formats = ("%d.%m.%Y",) if european else ("%Y-%m-%d",)
        if row.get("count") == "seven":
            row["count"] = 7


class SkipRowResource(resources.ModelResource):
    """skip_row overridden: rows marked 'skip' are not written."""

    class Meta:
        model = Item
        import_id_fields = ("owner", "sku")
        fields = ("owner", "sku", "title", "price")

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if row.get("title") == "skip":
            return True
        return super().skip_row(instance, original, row, import_validation_errors)


class ImportInstanceResource(resources.ModelResource):
    """import_instance and import_field overridden."""

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount")

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.attribute == "name" and not row.get("name"):
            instance.name = "from import_field"
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def import_instance(self, instance, row, **kwargs):
        super().import_instance(instance, row, **kwargs)
        instance.note = f"{instance.name}:{instance.count}"


class InitInstanceResource(resources.ModelResource):
    """get_or_init_instance and init_instance overridden."""

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount")

    def init_instance(self, row=None):
        return Gauge(note="made by init_instance", small=3)

    def get_or_init_instance(self, instance_loader, row):
        instance, new = super().get_or_init_instance(instance_loader, row)
        if not new:
            instance.note = "found"
        return instance, new


class CleanModelResource(resources.ModelResource):
    """clean_model_instances: choices, EmailField/URLField formats, validators."""

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "kind", "email", "url", "score")
        clean_model_instances = True


class NullKeepingResource(resources.ModelResource):
    """saves_null_values=False: an empty cell keeps what the instance has."""

    note = fields.Field(attribute="note", column_name="note", saves_null_values=False,
                        widget=BlankIsNoneWidget())  # fmt: skip
    small = fields.Field(
        attribute="small", column_name="small", saves_null_values=False,
        widget=widgets.IntegerWidget(),
    )  # fmt: skip

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "note", "small")


class ItemTagsResource(resources.ModelResource):
    """A many-to-many column (tag names), and m2m_add on a second one."""

    owner = fields.Field(
        attribute="owner", column_name="owner", widget=widgets.ForeignKeyWidget(Owner, "code")
    )
    tags = fields.Field(
        attribute="tags", column_name="tags", widget=widgets.ManyToManyWidget(Tag, field="name")
    )

    class Meta:
        model = Item
        import_id_fields = ("owner", "sku")
        fields = ("owner", "sku", "title", "tags")


class ForceInitResource(resources.ModelResource):
    class Meta:
        model = Owner
        import_id_fields = ("code",)
        fields = ("code", "name")
        force_init_instance = True


class ActiveOwnerItemResource(resources.ModelResource):
    """ForeignKeyWidget.get_queryset overridden: only active owners are found."""

    owner = fields.Field(attribute="owner", column_name="owner",
                         widget=ActiveOwnerWidget(Owner, "code"))  # fmt: skip

    class Meta:
        model = Item
        import_id_fields = ("owner", "sku")
        fields = ("owner", "sku", "title", "price")


class FilteredResource(resources.ModelResource):
    """A model whose default manager hides rows: import_data() sees them as new."""

    class Meta:
        model = Filtered
        import_id_fields = ("code",)
        fields = ("code", "value")


class GaugeAutoNowSkipResource(resources.ModelResource):
    """skip_unchanged on a model with auto_now: compared as import_data() compares."""

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount")
        skip_unchanged = True


class GaugeColumnLanesResource(resources.ModelResource):
    """Built-in widgets only, so each column may be converted whole (one match over
    the column) or once per distinct value: the values that must leave the column
    lane (leading zeros, "-0", "+5", other digits, tabs, newlines, a 31st of
    February, the year 1) give what import_data() gives all the same."""

    seen_at = fields.Field(
        attribute="seen_at",
        column_name="seen_at",
        widget=widgets.DateTimeWidget(format="%d/%m/%Y %H:%M"),
    )

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "note", "count", "small", "amount", "ratio", "seen_at")


class PreparedValuesResource(resources.ModelResource):
    """The compatible path (a row hook) writing values as save() prepares them: a text
    widget on an integer column (a str the field turns into an int, or refuses), a
    field subclass that upper-cases its text, a foreign key (written by its pk)."""

    count = fields.Field(attribute="count", column_name="count", widget=widgets.CharWidget())
    owner = fields.Field(
        attribute="owner", column_name="owner", widget=widgets.ForeignKeyWidget(Owner, "code")
    )

    class Meta:
        model = Prepared
        import_id_fields = ("code",)
        fields = ("code", "shout", "count", "owner", "note")

    def before_import_row(self, row, **kwargs):
        # Through a function of the module: the hook is not read as only rewriting its
        # row, so this case stays on the compatible path it is here for.
        row["note"] = _stripped(row.get("note"))


def _stripped(text: str | None) -> str:
    return (text or "").strip()


class RowHookResource(resources.ModelResource):
    """A row hook that only rewrites its row: the fast path after it, chunk by chunk. A
    chunk where it raises, or leaves a number in a cell, takes the compatible path."""

    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount")

    def before_import_row(self, row, **kwargs):
        row["code"] = row["code"].strip().upper()
        if row["name"] == "boom":
            raise ValueError("boom is not a name")
        if row["count"] == "seven":
            row["count"] = 7
        row["name"] = re.sub(r"\s+", " ", row["name"]).strip() or f"row {kwargs['row_number']}"


class InstanceHookResource(resources.ModelResource):
    """An instance hook that only reads and sets fields: the fast path with it, chunk by
    chunk. A chunk where it raises, sets a name too long for its column, or sets `kind`
    (not in the file) on some rows only, takes the compatible path."""

    count = fields.Field(attribute="count", column_name="count", widget=PlaceholderIntegerWidget())

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "count", "amount", "note")

    def before_save_instance(self, instance, row, **kwargs):
        if instance.name == "boom":
            raise ValueError("boom is not a name")
        if not instance.note:
            instance.note = f"{instance.name} x{instance.count} (row {kwargs['row_number']})"
        instance.ratio = (instance.count or 0) / 2
        if instance.name == "long":
            instance.name = "a name far too long for its column"
        if row.get("amount") == "9":
            instance.kind = "b"


def described(name: str, count) -> str:
    """A function of the team's own: the platform does not read what it does."""
    return f"{name} x{count}"


class LaneValuesResource(resources.ModelResource):
    """The compatible path (its hook calls a function of its own) with built-in widgets
    whose cells the compatible path reads by its exact lanes: whole numbers, decimals,
    text, dates and datetimes in a fixed format."""

    day = fields.Field(attribute="day", column_name="day", widget=widgets.DateWidget("%d/%m/%Y"))
    seen_at = fields.Field(
        attribute="seen_at", column_name="seen_at",
        widget=widgets.DateTimeWidget("%d/%m/%Y %H:%M"),
    )  # fmt: skip
    small = fields.Field(
        attribute="small", column_name="small", widget=widgets.IntegerWidget(), default=3
    )

    class Meta:
        model = Gauge
        import_id_fields = ("code",)
        fields = ("code", "name", "note", "count", "small", "amount", "day", "seen_at")

    def before_save_instance(self, instance, row, **kwargs):
        if not instance.note:
            instance.note = described(instance.name, instance.count)


IDENTICAL = {
    # name: (Resource, path)
    "plain_fields_and_model_defaults": (GaugeResource, "fast"),
    "foreign_key_widget_and_field_defaults": (GaugeOwnerCodeResource, "fast"),
    "custom_widgets_field_clean_readonly": (GaugeCustomWidgetsResource, "fast"),
    "values_converted_once_per_chunk": (GaugeByValueResource, "fast"),
    "columns_converted_whole": (GaugeColumnLanesResource, "fast"),
    "skip_unchanged_report_skipped": (ItemSkipUnchangedResource, "fast"),
    "natural_key_with_a_foreign_key": (ItemResource, "fast"),
    "cached_instance_loader": (CachedLoaderResource, "fast"),
    "chunks_read_by_columns": (ItemResource, "fast"),
    "row_hooks": (HookedGaugeResource, "compatible"),
    "hooks_with_values_cleaned_once": (HookedByValueResource, "compatible"),
    "skip_row": (SkipRowResource, "compatible"),
    "import_instance_and_import_field": (ImportInstanceResource, "compatible"),
    "get_or_init_instance_and_init_instance": (InitInstanceResource, "compatible"),
    "clean_model_instances": (CleanModelResource, "compatible"),
    "saves_null_values_false": (NullKeepingResource, "compatible"),
    "many_to_many": (ItemTagsResource, "compatible"),
    "force_init_instance": (ForceInitResource, "compatible"),
    "foreign_key_widget_get_queryset": (ActiveOwnerItemResource, "compatible"),
    "default_manager_hides_rows": (FilteredResource, "compatible"),
    "skip_unchanged_with_auto_now": (GaugeAutoNowSkipResource, "compatible"),
    "values_as_django_prepares_them": (PreparedValuesResource, "compatible"),
    "compatible_path_values_read_by_lanes": (LaneValuesResource, "compatible"),
    "row_hook_then_fast_path": (RowHookResource, "fast after the row hook"),
    "instance_hook_then_fast_path": (InstanceHookResource, "fast with the instance hook"),
}


# --- refused at registration ----------------------------------------------------------------


def _refused(name: str, meta: dict | None = None, **methods) -> type[resources.ModelResource]:
    options = {"model": Owner, "import_id_fields": ("code",), "fields": ("code", "name")}
    options.update(meta or {})
    attrs = {"Meta": type("Meta", (), options), "__module__": __name__, **methods}
    return type(name, (resources.ModelResource,), attrs)


def _noop(self, *args, **kwargs):
    return None


class MyLoader(instance_loaders.ModelInstanceLoader):
    pass


REFUSED = {
    # name: (Resource, what the refusal names)
    "before_import": (_refused("BeforeImport", before_import=_noop), "before_import()"),
    "after_import": (_refused("AfterImport", after_import=_noop), "after_import()"),
    "import_row": (_refused("ImportRow", import_row=_noop), "import_row()"),
    "import_data": (_refused("ImportData", import_data=_noop), "import_data()"),
    "save_instance": (_refused("SaveInstance", save_instance=_noop), "save_instance()"),
    "do_instance_save": (_refused("DoSave", do_instance_save=_noop), "do_instance_save()"),
    "for_delete": (_refused("ForDelete", for_delete=_noop), "for_delete()"),
    "get_import_id_fields": (
        _refused("DynamicKey", get_import_id_fields=lambda self: ["code"]),
        "get_import_id_fields()",
    ),
    "use_bulk": (_refused("Bulk", {"use_bulk": True}), "use_bulk"),
    "using_db": (_refused("OtherDb", {"using_db": "replica"}), "using_db"),
    "instance_loader_class": (
        _refused("Loader", {"instance_loader_class": MyLoader}),
        "instance_loader_class",
    ),
    "relation_attribute": (
        _refused(
            "Relation",
            {"model": Item, "import_id_fields": ("sku",), "fields": ("sku", "owner_name")},
            owner_name=fields.Field(attribute="owner__name", column_name="owner_name"),
        ),
        "follows a relation",
    ),
    "key_not_a_field": (_refused("NoKeyField", {"import_id_fields": ("nope",)}), "'nope'"),
    "multi_table_inheritance": (
        _refused("Child", {"model": ChildGauge, "fields": ("code", "extra")}),
        "multi-table inheritance",
    ),
}


class LooseResource(resources.ModelResource):
    class Meta:
        model = Loose
        import_id_fields = ("code",)
        fields = ("code", "value")


class SavedResource(resources.ModelResource):
    class Meta:
        model = Saved
        import_id_fields = ("code",)
        fields = ("code",)


class SignalledResource(resources.ModelResource):
    class Meta:
        model = Signalled
        import_id_fields = ("code",)
        fields = ("code",)


CHECKED = {
    # name: (Resource, check id, what the message names)
    "natural_key_without_unique_constraint": (LooseResource, "batches.E010", "UniqueConstraint"),
    "save_overridden": (SavedResource, "batches.E011", "Saved.save() is overridden"),
    "post_save_receiver": (SignalledResource, "batches.E011", "post_save receiver"),
}
