"""Imports in the admin: upload with preview, the job page with live progress, actions.

Views here only parse the request and call a service or selector. Uploading,
confirming, cancelling and retrying need `batches.run_import`; following a job
and downloading its error file need `batches.view_import`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from batches import registry, selectors
from batches.forms import UploadForm
from batches.models import ImportChunk, ImportJob, ImportRowError, InboxFile
from batches.services.control import job_cancel, job_retry_failed_chunks
from batches.services.preview import job_preview
from batches.services.uploads import job_create, job_queue

RUN = "batches.run_import"
VIEW = "batches.view_import"


def _chunk_page(request) -> int:
    page = request.GET.get("chunks", "1")
    return int(page) if page.isdigit() else 1


def _require(request, perm: str) -> None:
    if not (request.user.is_active and request.user.is_staff and request.user.has_perm(perm)):
        raise PermissionDenied


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "dataset",
        "original_name",
        "status",
        "source",
        "rows_total",
        "rows_new",
        "rows_updated",
        "rows_unchanged",
        "rows_rejected",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "dataset", "source"]
    list_select_related = ["created_by"]
    search_fields = ["original_name", "dataset"]
    date_hierarchy = "created_at"
    change_list_template = "batches/importjob_change_list.html"

    def has_add_permission(self, request):
        return False  # imports start from the upload page

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(VIEW) or super().has_view_permission(request, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name="batches_importjob_upload"),
            path("<int:job_id>/follow/", wrap(self.job_view), name="batches_importjob_follow"),
            path(
                "<int:job_id>/preview/", wrap(self.preview_view), name="batches_importjob_preview"
            ),
            path(
                "<int:job_id>/progress.json",
                wrap(self.progress_view),
                name="batches_importjob_progress",
            ),
            path(
                "<int:job_id>/errors.csv", wrap(self.errors_view), name="batches_importjob_errors"
            ),
            path("<int:job_id>/cancel/", wrap(self.cancel_view), name="batches_importjob_cancel"),
            path("<int:job_id>/retry/", wrap(self.retry_view), name="batches_importjob_retry"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:batches_importjob_follow", job_id=int(object_id))

    def upload_view(self, request):
        _require(request, RUN)
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            job = job_create(
                dataset=form.cleaned_data["dataset"],
                file=form.cleaned_data["file"],
                name=form.cleaned_data["file"].name,
                user=request.user,
                mode=form.cleaned_data["mode"],
                encoding=form.cleaned_data["encoding"],
                delimiter=form.cleaned_data["delimiter"],
            )
            return redirect("admin:batches_importjob_preview", job_id=job.id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import a CSV file",
            "form": form,
            "datasets": registry.all_datasets(),
        }
        return TemplateResponse(request, "batches/upload.html", context)

    def preview_view(self, request, job_id: int):
        _require(request, RUN)
        job = get_object_or_404(ImportJob, id=job_id)
        if request.method == "POST":
            if job_queue(job_id=job.id):
                if selectors.job_waiting_for_broker(job_id=job.id):
                    # Held in PostgreSQL; the workers' relay sends it when Redis answers.
                    messages.warning(
                        request, selectors.WAITING_FOR_BROKER.format(id=job.id, details="")
                    )
                else:
                    messages.success(request, f"Import #{job.id} is queued.")
            return redirect("admin:batches_importjob_follow", job_id=job.id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Check import #{job.id} before it runs",
            "job": job,
            "preview": job_preview(job=job),
        }
        return TemplateResponse(request, "batches/preview.html", context)

    def job_view(self, request, job_id: int):
        _require(request, VIEW)
        job = get_object_or_404(ImportJob.objects.select_related("created_by"), id=job_id)
        live = selectors.job_live(job_id=job.id, chunk_page=_chunk_page(request))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Import #{job.id}: {job.dataset}",
            "job": job,
            "progress": live,
            "chunk_page_numbers": range(1, live["chunk_pages"] + 1),
            "can_run": request.user.has_perm(RUN),
            "has_failed_chunks": bool(
                live["chunks"][ImportChunk.Status.FAILED]
                + live["chunks"][ImportChunk.Status.CANCELLED]
            ),
        }
        return TemplateResponse(request, "batches/job.html", context)

    def progress_view(self, request, job_id: int):
        """What the job page polls: a fixed number of queries whatever the job's size."""
        _require(request, VIEW)
        try:
            live = selectors.job_live(job_id=job_id, chunk_page=_chunk_page(request))
        except ImportJob.DoesNotExist:
            raise Http404 from None
        return JsonResponse(live)

    def errors_view(self, request, job_id: int):
        _require(request, VIEW)
        job = get_object_or_404(ImportJob, id=job_id)
        response = StreamingHttpResponse(
            selectors.job_error_csv_lines(job_id=job.id), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{job.id}-errors.csv"'
        return response

    @staticmethod
    def _post_only(request):
        if request.method != "POST":
            raise PermissionDenied

    def cancel_view(self, request, job_id: int):
        _require(request, RUN)
        self._post_only(request)
        if job_cancel(job_id=get_object_or_404(ImportJob, id=job_id).id):
            messages.success(request, f"Import #{job_id} is cancelled; committed rows stay.")
        else:
            messages.warning(request, f"Import #{job_id} had already finished.")
        return redirect("admin:batches_importjob_follow", job_id=job_id)

    def retry_view(self, request, job_id: int):
        _require(request, RUN)
        self._post_only(request)
        count = job_retry_failed_chunks(job_id=get_object_or_404(ImportJob, id=job_id).id)
        if count:
            messages.success(request, f"Retrying {count} chunks of import #{job_id}.")
        else:
            messages.warning(
                request, "Nothing to retry: the import is running or has no failed chunks."
            )
        return redirect("admin:batches_importjob_follow", job_id=job_id)


@admin.register(InboxFile)
class InboxFileAdmin(admin.ModelAdmin):
    list_display = ["path", "dataset", "job", "archived_path", "seen_at"]
    list_select_related = ["job"]
    search_fields = ["path", "checksum"]
    readonly_fields = ["checksum", "path", "archived_path", "dataset", "job", "seen_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportRowError)
class ImportRowErrorAdmin(admin.ModelAdmin):
    list_display = ["job", "row_number", "column", "message"]
    list_select_related = ["job"]
    search_fields = ["message"]
    ordering = [F("job_id").desc(), "row_number"]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
