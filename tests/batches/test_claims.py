"""Cross-chunk key claims (batches.writer.claim_keys): one COPY when no key was claimed
before, the staged ON CONFLICT path when one was."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from batches.cells import NULL
from batches.models import ImportKey
from batches.writer import CLAIM_KEY_CHARS, _claim_text, _claims_in_key_order, claim_keys
from tests.support.imports import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job_id():
    return make_job("daily_sales", "day,store_code,sku\n").id


def test_new_keys_are_claimed_in_one_go_and_held_exactly(job_id):
    long_key = "x" * (CLAIM_KEY_CHARS + 1)
    keys = ["b\x1f1", "a\x1f1", "tab\there", "back\\slash", long_key, "\\N"]
    assert claim_keys(job_id=job_id, rows=[2, 3, 4, 5, 6, 7], keys=keys) == {}

    held = dict(ImportKey.objects.filter(job_id=job_id).values_list("key", "row_number"))
    assert len(held) == 5  # the NULL key claims nothing, as NULL keys never conflict
    assert (held["a\x1f1"], held["tab\there"], held["back\\slash"]) == (3, 4, 5)
    assert [len(k) for k in held if k.startswith("\x1d")] == [65]  # a long key by its hash


def test_a_key_claimed_by_another_row_is_named_and_the_others_are_claimed(job_id):
    claim_keys(job_id=job_id, rows=[2, 3], keys=["k1", "k2"])

    taken = claim_keys(job_id=job_id, rows=[10, 11, 12], keys=["k3", "k2", "k4"])

    assert taken == {11: 3}
    assert ImportKey.objects.filter(job_id=job_id).count() == 4


def test_a_redelivered_chunk_finds_its_own_claims(job_id):
    claim_keys(job_id=job_id, rows=[2, 3], keys=["k1", "k2"])
    assert claim_keys(job_id=job_id, rows=[2, 3], keys=["k1", "k2"]) == {}


def test_long_keys_differing_only_at_the_end_are_different_keys(job_id):
    stem = "y" * (CLAIM_KEY_CHARS + 10)
    assert claim_keys(job_id=job_id, rows=[2, 3], keys=[stem + "1", stem + "2"]) == {}
    assert claim_keys(job_id=job_id, rows=[4], keys=[stem + "1"]) == {4: 2}


def test_a_failed_copy_leaves_the_chunks_transaction_usable(job_id):
    with transaction.atomic():
        claim_keys(job_id=job_id, rows=[2], keys=["k1"])
        assert claim_keys(job_id=job_id, rows=[3, 4], keys=["k1", "k5"]) == {3: 2}
        assert ImportKey.objects.filter(job_id=job_id).count() == 2


# Keys as a chunk hands them over: COPY text, so NULL is \N and a tab is "\t" escaped.
_KEY_TEXT = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
    st.just(NULL),
    st.text(alphabet="ab\\\t\n\r", max_size=6),
    st.builds(lambda n: "k" * n, st.sampled_from([CLAIM_KEY_CHARS, CLAIM_KEY_CHARS + 1])),
)


@given(st.lists(_KEY_TEXT, unique=True, max_size=30))
@settings(max_examples=300)
def test_claims_are_ordered_as_each_keys_claim_text_sorted_with_its_row(keys):
    # The plain-keys shortcut against the definition: every key's claim text, NULL
    # left out, sorted with its row (the order two chunks lock shared keys in).
    rows = list(range(2, 2 + len(keys)))
    expected = sorted(
        (_claim_text(key), row) for key, row in zip(keys, rows, strict=True) if key != NULL
    )
    assert _claims_in_key_order(keys, rows) == expected


def test_claims_refuse_keys_and_rows_that_do_not_pair_up():
    with pytest.raises(ValueError, match="2 keys for 1 rows"):
        _claims_in_key_order(["a", "b"], [2])
