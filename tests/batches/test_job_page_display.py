"""The import-job page shows its duration and time left in words, not raw seconds."""

import datetime as dt

from django.urls import reverse

from batches.models import ImportJob
from tests.batches.conftest import run_inline
from tests.support.imports import make_job

HEADER = "iata,name,city,state,country,latitude,longitude\n"


def test_a_finished_import_shows_its_duration_in_words(client, importer):
    client.force_login(importer)
    job = run_inline(make_job("airports", HEADER + "AAA,A,X,,USA,1,2\n"))
    # A recorded duration set here, not a measured one: only its display is checked.
    started = job.finished_at - dt.timedelta(minutes=4, seconds=5)
    ImportJob.objects.filter(id=job.id).update(started_at=started)

    page = client.get(reverse("admin:batches_importjob_follow", args=[job.id])).content.decode()
    progress = client.get(reverse("admin:batches_importjob_progress", args=[job.id])).json()

    assert '<td id="duration">4:05 min</td>' in page
    assert (progress["duration_display"], progress["eta_display"]) == ("4:05 min", "-")
