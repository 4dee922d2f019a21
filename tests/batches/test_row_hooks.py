"""Which `before_import_row` hooks only rewrite their row (the fast path after the hook),
read from their source. The differential proof (the platform against import_data()) is
the conformance case `row_hook_then_fast_path` and its generated files."""

from __future__ import annotations

import os
import re
import unicodedata

import pytest
from import_export import resources

from batches.features import ROW_HOOK_FAST, resource_profile
from batches.hookreaders import row_hook_refusal
from tests.conformance import resources as catalogue
from tests.conformance.models import Owner
from tests.team import imports as team

SEEN: list = []


def _resource(name: str, hook, base: type = resources.ModelResource) -> type:
    meta = type("Meta", (), {"model": Owner, "import_id_fields": ("code",),
                             "fields": ("code", "name")})  # fmt: skip
    return type(name, (base,), {"Meta": meta, "before_import_row": hook, "__module__": __name__})


def rewrites(self, row, **kwargs):
    row["name"] = (row.get("name") or "").strip().title() or f"owner {kwargs['row_number']}"
    if row["code"].startswith("x"):
        raise ValueError("codes starting with x are retired")


def normalises(self, row, **kwargs):
    name = unicodedata.normalize("NFC", re.sub(r"\s+", " ", row["name"]))
    row["name"] = " ".join(part.capitalize() for part in name.split(" "))
    row["code"] = "{}-{}".format(row["code"][:2], row["code"][2:]).rjust(6, "0")


def compiles(self, row, **kwargs):
    row["name"] = re.compile(r"\s+").sub(" ", row["name"])


def joins_a_path(self, row, **kwargs):
    row["name"] = os.path.join("a", row["name"])


def calls_super(self, row, **kwargs):
    row["code"] = row["code"].upper()
    super(Rewriting, self).before_import_row(row, **kwargs)


def reads_self(self, row, **kwargs):
    row["name"] = self.prefix + row["name"]


def changes_a_widget(self, row, **kwargs):
    self.fields["name"].widget.formats = ()


def remembers(self, row, **kwargs):
    SEEN.append(row["code"])


def deletes(self, row, **kwargs):
    del row["name"]


def calls_another_method(self, row, **kwargs):
    super(Rewriting, self).import_row(row, None)


Rewriting = _resource("Rewriting", rewrites)


@pytest.mark.parametrize(
    "resource_class",
    [
        team.CheckedOrderLineResource, team.ReadingResource, catalogue.RowHookResource,
        catalogue.HookedGaugeResource, Rewriting, _resource("CallsSuper", calls_super, Rewriting),
        _resource("Normalises", normalises),
    ],
    ids=lambda r: r.__name__,
)  # fmt: skip
def test_hooks_that_only_rewrite_their_row(resource_class):
    assert row_hook_refusal(resource_class) is None


@pytest.mark.parametrize(
    ("resource_class", "word"),
    [
        (_resource("ReadsSelf", reads_self), "self.prefix"),
        (_resource("ChangesAWidget", changes_a_widget), "assigns to an attribute"),
        (catalogue.HookedByValueResource, "assigns to an attribute"),
        (catalogue.PreparedValuesResource, "_stripped()"),
        (_resource("Remembers", remembers), ".append()"),
        (_resource("Deletes", deletes), "delete"),
        (_resource("Compiles", compiles), ".sub()"),
        (_resource("JoinsAPath", joins_a_path), "'os'"),
        (_resource("CallsAnotherMethod", calls_another_method, Rewriting), "import_row"),
        # A subclass whose own hook is fine, over a base whose hook is not.
        (_resource("OverReadsSelf", rewrites, _resource("Base", reads_self)), "self.prefix"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_hooks_that_may_do_more_are_refused(resource_class, word):
    refusal = row_hook_refusal(resource_class)
    assert refusal is not None
    assert word in refusal, refusal


def test_the_profile_names_the_path_and_why_a_hook_keeps_the_compatible_path():
    rewriting = resource_profile(Rewriting)
    reading = resource_profile(_resource("ReadsSelf", reads_self))

    assert rewriting.path == ROW_HOOK_FAST
    assert rewriting.explanation.startswith("fast path after the row hook: ")
    assert reading.path == "compatible"
    assert "ReadsSelf.before_import_row: reads self.prefix (the Resource)" in (reading.explanation)


@pytest.mark.django_db
@pytest.mark.parametrize("slice_rows", [1, 2, 3, 10_000])
def test_a_chunk_validated_in_slices_is_validated_as_one(slice_rows, monkeypatch):
    from batches import registry, rowhooks

    dataset = registry.get("seattle_weather")
    header = ["date", "precipitation", "temp_max", "temp_min", "wind", "weather"]
    lines = [
        "2012/01/01,T,12.8,5.0,4.7, Drizzle ", "2012/01/02,10.9,warm,2.8,4.5,rain",
        "2012/01/03,0.8,11.7,7.2,2.3,RAIN", "2012/01/01,0,1,1,1,sun",  # the key of row 2
        "2012/01/04,20.3", "2012/01/05,1.3,8.9,2.8,6.1,snow", "2012/01/03,0,1,1,1,fog",
        "2012/01/06,2.5,4.4,2.2,2.2,rain", "2012/01/06,0,4.4,2.2,2.2,rain",
    ]  # fmt: skip
    records = [(number, line.split(",")) for number, line in enumerate(lines, 2)]

    def validated():
        _, rows = rowhooks.validated_after_hook(  # type: ignore[misc]
            dataset, header, [(n, list(c)) for n, c in records], first_index=1, dry_run=False
        )
        rowhooks.with_original_cells(rows.rejected, records)
        # Without imported_at (timezone.now, taken once per slice of rows).
        rows.lines = [line.rsplit("\t", 1)[0] for line in rows.lines]
        return rows

    whole = validated()
    monkeypatch.setattr(rowhooks, "SLICE_ROWS", slice_rows)

    assert validated() == whole
    assert [r.row_number for r in whole.rejected] == [3, 5, 6, 8, 10]
    assert whole.rejected[1].message == (
        "row 5: duplicate key (date) = (2012-01-01); row 2 has the same key and was kept"
    )
    assert whole.rejected[1].values == ["2012/01/01", "0", "1", "1", "1", "sun"]
