"""Which `before_save_instance` hooks only read and set the instance's fields (the fast
path with the instance hook), read from their source, and what a chunk does with one.
The differential proof (the platform against import_data()) is the conformance case
`instance_hook_then_fast_path`."""

from __future__ import annotations

import os

import pytest
from import_export import resources

from batches.features import INSTANCE_HOOK_FAST, resource_profile
from batches.hookreaders import instance_hook_use
from tests.conformance import resources as catalogue
from tests.conformance.models import Gauge
from tests.team import imports as team

SEEN: list = []


def _resource(name: str, hook, base: type = resources.ModelResource, **meta) -> type:
    options = {"model": Gauge, "import_id_fields": ("code",),
               "fields": ("code", "name", "count", "amount", "note"), **meta}  # fmt: skip
    attrs = {"Meta": type("Meta", (), options), "before_save_instance": hook,
             "__module__": __name__}  # fmt: skip
    return type(name, (base,), attrs)


def fills(self, instance, row, **kwargs):
    if not instance.note:
        instance.note = (
            f"{instance.name.strip().title()} ({row.get('code')}, {kwargs['row_number']})"
        )
    instance.ratio = (instance.count or 0) / 2
    instance.count += 1


def calls_super(self, instance, row, **kwargs):
    instance.note = "checked"
    super(Filling, self).before_save_instance(instance, row, **kwargs)


def reads_self(self, instance, row, **kwargs):
    instance.note = self.prefix


def hands_the_instance_on(self, instance, row, **kwargs):
    instance.note = str(instance)


def saves(self, instance, row, **kwargs):
    instance.save()


def reads_the_primary_key(self, instance, row, **kwargs):
    instance.note = f"{instance.pk}"


def reads_a_field_the_resource_does_not_set(self, instance, row, **kwargs):
    instance.note = f"{instance.small}"


def reads_a_related_object(self, instance, row, **kwargs):
    instance.note = instance.owner.code


def sets_the_key(self, instance, row, **kwargs):
    instance.code = instance.code.upper()


def sets_a_relation(self, instance, row, **kwargs):
    instance.owner = None


def sets_an_auto_now_field(self, instance, row, **kwargs):
    instance.updated = None


def sets_no_column(self, instance, row, **kwargs):
    instance.checked = True


def writes_the_row(self, instance, row, **kwargs):
    row["note"] = instance.note


def swaps_the_instance(self, instance, row, **kwargs):
    instance = Gauge()
    instance.note = "x"


def remembers(self, instance, row, **kwargs):
    SEEN.append(instance.code)


def joins_a_path(self, instance, row, **kwargs):
    instance.note = os.path.join("a", instance.name)


Filling = _resource("Filling", fills)


@pytest.mark.parametrize(
    "resource_class",
    [
        team.AnnotatedOrderLineResource, catalogue.InstanceHookResource, Filling,
        _resource("CallsSuper", calls_super, Filling),
    ],
    ids=lambda r: r.__name__,
)  # fmt: skip
def test_hooks_that_only_read_and_set_fields(resource_class):
    assert resource_profile(resource_class).path == INSTANCE_HOOK_FAST


def test_what_a_hook_reads_and_sets_is_read_from_every_class_that_defines_it():
    use = instance_hook_use(_resource("CallsSuper", calls_super, Filling))

    assert not isinstance(use, str)
    assert use.reads == {"name", "note", "count"}
    assert use.writes == {"note", "ratio", "count"}


@pytest.mark.parametrize(
    ("hook", "word", "meta"),
    [
        (reads_self, "self.prefix", {}),
        (hands_the_instance_on, "uses 'instance' other than", {}),
        (saves, "calls .save()", {}),
        (reads_the_primary_key, "reads instance.pk, which no one field", {}),
        (reads_a_field_the_resource_does_not_set, "reads instance.small", {}),
        (reads_a_related_object, "reads instance.owner", {"fields": ("code", "owner")}),
        (sets_the_key, "sets instance.code, part of the key", {}),
        (sets_a_relation, "sets instance.owner, which save() does not write", {}),
        (sets_an_auto_now_field, "sets instance.updated, which save() does not write", {}),
        (sets_no_column, "sets instance.checked, which is not a column of Gauge", {}),
        (writes_the_row, "assigns to an attribute or an item", {}),
        (swaps_the_instance, "assigns to 'instance'", {}),
        (remembers, ".append()", {}),
        (joins_a_path, "'os'", {}),
    ],
    ids=lambda v: v.__name__ if callable(v) else "",
)
def test_hooks_that_may_do_more_keep_the_compatible_path(hook, word, meta):
    profile = resource_profile(_resource("Hooked", hook, **meta))

    assert profile.path == "compatible"
    assert word in profile.explanation, profile.explanation


def test_skip_unchanged_keeps_the_compatible_path():
    """import_data() compares the row before the hook runs; the fast path compares what
    it writes."""
    meta = type("Meta", (team.OrderLineResource.Meta,), {"skip_unchanged": True})
    attrs = {"Meta": meta, "__module__": __name__}
    resource_class = type("SkipsUnchanged", (team.AnnotatedOrderLineResource,), attrs)

    profile = resource_profile(resource_class)

    assert profile.path == "compatible"
    assert "Meta.skip_unchanged decides before the hook runs" in profile.explanation


def test_the_profile_names_the_path():
    explanation = resource_profile(Filling).explanation

    assert explanation.startswith("fast path with the instance hook: ")


@pytest.mark.django_db
def test_a_chunk_where_the_hook_sets_an_unfiled_field_on_some_rows_only_is_handed_back():
    """An existing row keeps a field the file does not give where the hook leaves it
    alone, a new row gets the default: one upsert cannot do both."""
    from batches import registry, rowhooks
    from batches.registry import Dataset

    def sets_small_sometimes(self, instance, row, **kwargs):
        if instance.name == "big":
            instance.small = 9

    resource_class = _resource("SetsSmall", sets_small_sometimes)
    dataset = Dataset("sets_small", resource_class, "Sets small", resource_profile(resource_class))
    header = ["code", "name", "count", "amount", "note"]

    def through(*names):
        records = [(n, [f"G{n}", name, "1", "1", ""]) for n, name in enumerate(names, 2)]
        return rowhooks.validated_after_hook(dataset, header, records, first_index=1, dry_run=False)

    assert through("big", "a") is None
    every = through("big", "big")
    none = through("a", "a")
    assert every is not None
    assert none is not None
    small = every[0].insert_columns.index("small")
    assert "small" in every[0].update_columns
    assert "small" not in none[0].update_columns
    assert [line.split("\t")[small] for line in every[1].lines] == ["9", "9"]
    assert [line.split("\t")[small] for line in none[1].lines] == ["\\N", "\\N"]
    assert registry.get("team_order_lines_annotated").path == INSTANCE_HOOK_FAST


@pytest.mark.django_db
def test_a_chunk_whose_header_lacks_a_field_the_hook_reads_is_handed_back():
    from batches import rowhooks
    from batches.registry import Dataset

    dataset = Dataset("filling", Filling, "Filling", resource_profile(Filling))
    header = ["code", "name", "count", "amount"]  # no note, which the hook reads
    records = [(2, ["G2", "two", "1", "1"])]

    assert dataset.spec.plan(header)
    assert (
        rowhooks.validated_after_hook(dataset, header, records, first_index=1, dry_run=False)
        is None
    )


ORDER_LINES = (
    "order,line,store,sku,description,quantity,unit_price,discount,tax,total,ordered_on,"
    "shipped_at,status,channel,region,priority,boxes,weight_kg,note\n"
    '1,1,ST01,SKU-1,"blue kit, 2 pcs",3,1.50,0.00,0.90,5.40,2026-01-02,03/01/2026 10:00,'
    "open,web,north,1,2,1.250,\n"
    "1,2,ST02,SKU-2,lamp,n/a,2.00,5.00,0.40,2.40,2026-01-02,n/a,N/A, n/a ,-,n/a,1,,gate 4\n"
    "1,3,ST01,SKU-3,oak,abc,1,0,0,1,2026-01-02,,open,web,east,1,1,1,\n"
    "2,1,ST09,SKU-4,pack,1,1,0,0,1,2026-01-03,,open,web,east,1,1,1,\n"
    "2,2,ST02,SKU-5,set,4,9.99,,2.00,11.99,2026-01-03,31/02/2026 10:00,open,web,,2,,2,\n"
    "2,3,ST01,SKU-6,glass,5,1,0,0,1,2026-01-03,04/01/2026 23:59,shipped,store,west,n/a,3,,\n"
    "3,1,ST02,SKU-7,tool,6,1,0,0,1,2026-01-04,05/01/2026 00:00,open,phone,south,3,n/a,0.5,x\n"
    "3,2,ST01,SKU-8,bag,7,1,0,0,1,2026-01-04,,open,web,north,4,1,1,\n"
    "3,3,ST01,SKU-9,hinge,8,1,0,0,1,not a date,,open,web,north,4,1,1,\n"
)


def _stores_and_one_line() -> None:
    from tests.team.models import OrderLine, Store

    OrderLine.objects.all().delete()
    Store.objects.all().delete()
    one, _ = Store.objects.get_or_create(code="ST01", defaults={"name": "One"})
    Store.objects.get_or_create(code="ST02", defaults={"name": "Two"})
    OrderLine.objects.create(
        order=1, line=1, store=one, sku="OLD", unit_price=1, tax=0, total=1,
        ordered_on="2026-01-01", note="kept",
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "team_order_lines", "team_order_lines_checked", "team_order_lines_annotated",
        "team_order_lines_described",
    ],
)  # fmt: skip
def test_the_teams_order_lines_import_as_import_data_imports_them(name, celery_worker, settings):
    """The team's Resources on its own file, each on its path (fast; after the row
    hook; with the instance hook; compatible), against import_data(), three rows a chunk."""
    from batches import registry
    from tests.conformance.harness import compare

    settings.IMPORT_CHUNK_ROWS = 3
    dataset = registry.get(name)

    job = compare(name, dataset.resource_class, ORDER_LINES, setup=_stores_and_one_line)

    # A placeholder in the datetime, a bad quantity, an unknown store, two bad dates.
    assert sorted(job.row_errors.values_list("row_number", flat=True)) == [3, 4, 5, 6, 10]
