"""The admin pages: upload with preview, the job page, permissions."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batches.models import ImportJob
from tests.batches.conftest import run_inline
from tests.support.imports import make_job

pytestmark = pytest.mark.django_db

HEADER = "iata,name,city,state,country,latitude,longitude\n"


def upload(client, content: bytes, name: str = "airports.csv", **extra):
    return client.post(
        reverse("admin:batches_importjob_upload"),
        {
            "dataset": "airports",
            "mode": "valid_rows",
            "encoding": "utf-8",
            "delimiter": "",
            "file": SimpleUploadedFile(name, content, content_type="text/csv"),
            **extra,
        },
    )


def test_upload_shows_a_preview_with_per_field_errors_escaped(client, importer):
    client.force_login(importer)
    content = (HEADER + "AAA,Alpha,X,,USA,1,2\nBBB,<script>x</script>,X,,USA,north,2\n").encode()

    response = upload(client, content)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:batches_importjob_preview", args=[job.id])
    preview = client.get(response["Location"])

    html = preview.content.decode()
    assert preview.status_code == 200
    assert "1</strong> of them would be rejected" in html
    assert "&#x27;north&#x27; is not a number" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<script>x</script>" not in html
    assert job.status == ImportJob.Status.PENDING


def test_confirming_the_preview_queues_the_job_on_commit(
    client, importer, django_capture_on_commit_callbacks
):
    client.force_login(importer)
    upload(client, (HEADER + "AAA,Alpha,X,,USA,1,2\n").encode())
    job = ImportJob.objects.get()

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("admin:batches_importjob_preview", args=[job.id]))

    job.refresh_from_db()
    assert response.status_code == 302
    assert job.status == ImportJob.Status.QUEUED
    assert len(callbacks) == 1  # plan_import sent only after the commit


def test_preview_of_a_file_with_a_bad_header_says_what_is_wrong(client, importer):
    client.force_login(importer)
    upload(client, b"iata;name\nAAA;Alpha\n")

    preview = client.get(
        reverse("admin:batches_importjob_preview", args=[ImportJob.objects.get().id])
    )

    assert (
        "This file cannot be imported: missing column &#x27;latitude&#x27;"
        in preview.content.decode()
    )
    assert b'value="Import"' not in preview.content


def test_upload_over_the_limit_or_not_csv_is_refused_with_a_message(client, importer, settings):
    client.force_login(importer)
    settings.IMPORT_MAX_UPLOAD_BYTES = 50

    too_big = upload(client, (HEADER + "AAA,Alpha,X,,USA,1,2\n").encode())
    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000
    not_csv = upload(client, b"iata,name\nAAA,Alpha\n", name="notes.docx")

    assert "the upload limit is 50 bytes" in too_big.content.decode()
    assert "only CSV files can be imported" in not_csv.content.decode()
    assert not ImportJob.objects.exists()


def test_job_page_progress_json_and_error_file(client, importer):
    client.force_login(importer)
    job = run_inline(make_job("airports", HEADER + "AAA,A,X,,USA,1,2\n=B,B,X,,USA,x,2\n"))

    page = client.get(reverse("admin:batches_importjob_follow", args=[job.id]))
    progress = client.get(reverse("admin:batches_importjob_progress", args=[job.id])).json()
    errors = client.get(reverse("admin:batches_importjob_errors", args=[job.id]))

    assert page.status_code == 200
    assert "Download the rejected rows" in page.content.decode()
    assert progress["rows_done"] == progress["rows_total"] == 2
    assert (progress["status"], progress["rows_rejected"], progress["finished"]) == (
        "partially_failed",
        1,
        True,
    )
    body = b"".join(errors.streaming_content).decode()
    assert errors["Content-Disposition"] == f'attachment; filename="import-{job.id}-errors.csv"'
    assert "\r\n3,\"row 3, column 'latitude': 'x' is not a number\",'=B," in body


def test_changelist_lists_jobs_without_a_query_per_row(
    client, admin_user, django_assert_max_num_queries
):
    for _ in range(5):
        make_job("airports", HEADER + "AAA,A,X,,USA,1,2\n", user=admin_user)
    client.force_login(admin_user)

    with django_assert_max_num_queries(10):
        response = client.get(reverse("admin:batches_importjob_changelist"))

    assert response.status_code == 200
    assert "Import a CSV file" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("upload", "get"),
        ("preview", "post"),
        ("cancel", "post"),
        ("retry", "post"),
        ("errors", "get"),
        ("follow", "get"),
    ],
)
def test_staff_without_import_permissions_get_403(client, django_user_model, name, method):
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    job = make_job("airports", HEADER + "AAA,A,X,,USA,1,2\n")
    client.force_login(staff)
    args = [] if name == "upload" else [job.id]

    response = getattr(client, method)(reverse(f"admin:batches_importjob_{name}", args=args))

    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PENDING


def test_the_upload_page_says_which_path_each_dataset_takes_and_why(client, importer):
    client.force_login(importer)

    html = client.get(reverse("admin:batches_importjob_upload")).content.decode()

    assert "<td>Airports (keyed by IATA code)</td>" in html
    assert "fast path: the Resource overrides no row hook" in html
    assert "fast path after the row hook: before_import_row() only rewrites" in html  # weather
    assert "fast path with the instance hook: before_save_instance() only reads" in html
    assert "compatible path: before_import_row() is overridden; Meta.skip_unchanged" in html


def test_the_preview_says_the_path_and_the_columns_the_file_lacks(client, importer):
    client.force_login(importer)
    upload(client, b"iata,name,country,latitude,longitude\nAAA,Alpha,USA,1,2\n")

    html = client.get(
        reverse("admin:batches_importjob_preview", args=[ImportJob.objects.get().id])
    ).content.decode()

    assert "Import path: <strong>fast</strong>" in html
    assert "Not in the file: city, state." in html


def test_the_job_page_shows_the_first_chunk_errors_with_their_rows(client, importer):
    job = run_inline(make_job("airports", HEADER + "AAA,Alpha,X,,USA,1,2\n"))
    job.chunks.update(status="failed", error="Airport.name cannot be empty (NOT NULL)")
    job.status, job.finished_at = ImportJob.Status.RUNNING, None
    job.save()
    from batches.services.finishing import job_finish

    job_finish(job_id=job.id)
    client.force_login(importer)

    html = client.get(reverse("admin:batches_importjob_follow", args=[job.id])).content.decode()

    assert (
        "Every chunk failed. First errors: rows 2-2: Airport.name cannot be empty (NOT NULL)."
        in html
    )


@pytest.mark.parametrize("path", ["fast after the row hook", "compatible"])
def test_the_preview_of_a_hooked_dataset_runs_its_hook_and_writes_nothing(
    path, client, importer, monkeypatch
):
    from batches import registry
    from batches.features import Profile
    from catalogue.models import WeatherDay

    weather = registry.get("seattle_weather")  # its hook only rewrites its row
    if path == "compatible":  # which runs any Resource
        monkeypatch.setattr(weather, "profile", Profile("compatible", reasons=("forced",)))
    client.force_login(importer)
    content = (
        b"date,precipitation,temp_max,temp_min,wind,weather\n"
        b"2012/01/01,T,12.8,5.0,4.7, Drizzle \n"
        b"2012/01/02,10.9,warm,2.8,4.5,rain\n"
    )
    client.post(
        reverse("admin:batches_importjob_upload"),
        {
            "dataset": "seattle_weather", "mode": "valid_rows", "encoding": "utf-8",
            "delimiter": "", "file": SimpleUploadedFile("w.csv", content, content_type="text/csv"),
        },
    )  # fmt: skip

    html = client.get(
        reverse("admin:batches_importjob_preview", args=[ImportJob.objects.get().id])
    ).content.decode()

    assert f"Import path: <strong>{path}</strong>" in html
    assert "1</strong> of them would be rejected" in html
    assert "&#x27;warm&#x27; is not a number" in html
    assert not WeatherDay.objects.exists()  # the dry run was rolled back


def test_the_preview_of_an_instance_hooked_dataset_runs_its_hook_on_the_fast_path(client, importer):
    """The team's order lines through its instance-hooked Resource: the preview names
    the path, rejects the bad row as the import would, and writes nothing."""
    from tests.team.models import OrderLine, Store

    Store.objects.create(code="ST01", name="One")
    client.force_login(importer)
    content = (
        b"order,line,store,sku,description,quantity,unit_price,discount,tax,total,"
        b"ordered_on,shipped_at,status,channel,region,priority,boxes,weight_kg,note\n"
        b"1,1,ST01,SKU-1,kit,3,1.50,0,0.90,5.40,2026-01-02,03/01/2026 10:00,open,web,"
        b"north,1,2,1.250,\n"
        b"1,2,ST01,SKU-2,lamp,abc,2,0,0,2,2026-01-02,,open,web,north,1,1,1,\n"
    )
    client.post(
        reverse("admin:batches_importjob_upload"),
        {
            "dataset": "team_order_lines_annotated", "mode": "valid_rows",
            "encoding": "utf-8", "delimiter": "",
            "file": SimpleUploadedFile("orders.csv", content, content_type="text/csv"),
        },
    )  # fmt: skip

    html = client.get(
        reverse("admin:batches_importjob_preview", args=[ImportJob.objects.get().id])
    ).content.decode()

    assert "Import path: <strong>fast with the instance hook</strong>" in html
    assert "1</strong> of them would be rejected" in html
    assert "&#x27;abc&#x27; is not a whole number" in html
    assert not OrderLine.objects.exists()


@pytest.fixture
def broker_unreachable():
    """This process's Celery app publishes to a port nobody listens on, as when Redis is
    down: its connection pools are set aside (not closed: others may hold them) so that
    the next message opens a new connection, and put back afterwards."""
    from celery import current_app

    amqp = current_app.amqp
    saved = (current_app.conf.broker_url, current_app._pool, amqp._producer_pool)
    current_app._pool = amqp._producer_pool = None
    current_app.conf.broker_url = "redis://127.0.0.1:9/0"
    yield
    dead_pool = current_app._pool
    current_app.conf.broker_url, current_app._pool, amqp._producer_pool = saved
    if dead_pool is not None:
        dead_pool.force_close_all()


def test_confirming_an_upload_while_the_broker_is_unreachable_says_so_and_holds_the_job(
    transactional_db, client, importer, broker_unreachable
):
    # transactional_db: the planner is sent on commit, and the page reads what happened.
    client.force_login(importer)
    upload(client, (HEADER + "AAA,Alpha,X,,USA,1,2\n").encode())
    job = ImportJob.objects.get()

    response = client.post(reverse("admin:batches_importjob_preview", args=[job.id]), follow=True)

    job.refresh_from_db()
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        f"Import #{job.id} accepted; the broker is unreachable, it will start as soon as "
        "Redis answers."
    ]
    assert job.status == ImportJob.Status.QUEUED
    assert job.dispatch_due_at is not None  # PostgreSQL holds it for the relay
