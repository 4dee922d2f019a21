"""What the platform cannot run as import_data() would is refused, loudly, at registration."""

from __future__ import annotations

import pytest
from django.core import checks

from batches import registry
from batches.checks import check_datasets
from batches.models import ImportJob
from batches.services.planning import job_plan
from tests.conformance import resources
from tests.support.imports import make_job


@pytest.mark.parametrize("case", sorted(resources.REFUSED))
def test_register_refuses_a_feature_it_cannot_honour_naming_it(case, dataset):
    resource_class, named = resources.REFUSED[case]

    with pytest.raises(registry.DatasetRefused) as refused:
        dataset(case, resource_class)

    message = str(refused.value)
    assert named in message
    assert f"dataset {case!r}: {resource_class.__name__} uses import features" in message
    assert case not in {d.name for d in registry.all_datasets()}


def test_a_refusal_says_what_to_do_instead(dataset):
    with pytest.raises(registry.DatasetRefused) as refused:
        dataset("before", resources.REFUSED["before_import"][0])

    assert "Do per-row work in before_import_row()" in str(refused.value)


def test_a_resource_without_a_natural_key_is_refused(dataset):
    class NoKey(resources.resources.ModelResource):
        class Meta:
            model = resources.Owner
            fields = ("code",)

    with pytest.raises(registry.DatasetRefused, match="must declare import_id_fields"):
        dataset("nokey", NoKey)


@pytest.mark.parametrize("case", sorted(resources.CHECKED))
def test_a_system_check_fails_a_model_the_platform_cannot_write_as_save_would(case, dataset):
    resource_class, check_id, named = resources.CHECKED[case]
    dataset(case, resource_class)

    errors = [e for e in check_datasets() if e.obj is resource_class]

    assert [e.id for e in errors] == [check_id]
    assert isinstance(errors[0], checks.Error)
    assert named in errors[0].msg
    assert f"dataset {case!r}" in errors[0].msg


def test_registered_datasets_pass_the_system_checks():
    assert check_datasets() == []


@pytest.mark.django_db
def test_a_job_of_a_dataset_failing_its_checks_fails_with_the_check_message(dataset):
    dataset("loose", resources.LooseResource)
    job = make_job("loose", "code,value\nA,1\n")
    ImportJob.objects.filter(id=job.id).update(status=ImportJob.Status.QUEUED)

    job_plan(job_id=job.id)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert "is not backed by a unique constraint" in job.error
    assert not job.chunks.exists()
