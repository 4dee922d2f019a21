"""Which `before_import_row` hooks only rewrite their row (the fast path after the hook),
read from their source. The differential proof (the platform against import_data()) is
the conformance case `row_hook_then_fast_path` and its generated files."""

from __future__ import annotations

import pytest
from import_export import resources

from batches.features import ROW_HOOK_FAST, resource_profile
from batches.purity import row_hook_refusal
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
