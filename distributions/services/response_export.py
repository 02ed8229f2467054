"""Response exports: start one (a job does the work), produce its file, hand it out, purge old ones.

An export is a snapshot of the survey's responses when its job starts (those with ids up to the
largest then), streamed in id order so memory stays flat whatever the number of responses: CSV and
TSV on PostgreSQL by one COPY statement, everything else read in chunks of CHUNK_ROWS by id (the
(survey, id) index). Its percentComplete moves every CHUNK_ROWS rows (written at most once per
PROGRESS_INTERVAL_SECONDS). The file is
written to a temporary file, then saved to the private storage settings.STORAGES["response_exports"]
(a folder no URL serves): only the permission-checked download views read it. Files and their
exports are deleted EXPORT_RETENTION after they finished (a daily schedule), when the survey is
deleted, and when a contact who responded is deleted (the file names them).
"""

import logging
import tempfile
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.core.files import File
from django.db import connection, connections, transaction
from django.db.models import Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from distributions.export_file import (
    CONTENT_TYPES,
    FORMATS,
    ROW_FIELDS,
    ExportLayout,
    copy_rows,
    csv_rows,
    export_layout,
    footer,
    header,
    json_rows,
    question_id,
    recipient_email,
)
from distributions.models import Response, ResponseExport, Survey, response_export_storage

logger = logging.getLogger(__name__)

EXPORT_JOB = "distributions.jobs.export_responses"
# Who may do what, in the admin and the REST API alike: an export holds every response of the
# survey with its recipient, so starting one or downloading its file needs the right to browse
# responses; following its progress, the right to view exports.
EXPORT_VIEW_PERMISSIONS = ("distributions.view_survey", "distributions.view_responseexport")
EXPORT_START_PERMISSIONS = (
    "distributions.view_survey",
    "distributions.view_response",
    "distributions.add_responseexport",
)
EXPORT_DOWNLOAD_PERMISSIONS = (*EXPORT_VIEW_PERMISSIONS, "distributions.view_response")
CHUNK_ROWS = 10_000
PROGRESS_INTERVAL_SECONDS = 0.5
EXPORT_RETENTION = timedelta(days=7)
# An export still in progress after this long lost its worker for good (django-q2 hands a job out
# again after a worker dies, up to its attempts): it is marked failed.
STALLED_AFTER = timedelta(days=1)
Status = ResponseExport.Status


class ExportError(Exception):
    """Options an export cannot run with; `field` names the option (its reference name)."""

    def __init__(self, message: str, *, field: str):
        super().__init__(message)
        self.message, self.field = message, field


def response_export_start(
    *,
    survey: Survey,
    user,
    format: str,
    compress: bool = True,
    use_labels: bool = False,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    question_ids: list[str] | None = None,
    embedded_data_ids: list[str] | None = None,
) -> ResponseExport:
    """Record an export of `survey`'s responses and queue its job (after commit). -> the export, in progress.

    `format`: csv, tsv, json or ndjson; `compress`: a ZIP holding the one file; `use_labels`: CSV
    and TSV show choice texts instead of their numbers; `start_date` (inclusive) and `end_date`
    (exclusive) bound the recorded date (when the response finished, or was last saved);
    `question_ids` (QID…) and `embedded_data_ids` (declared field names) select columns, None
    meaning all. Raises ExportError for an unknown format, question or field, or dates in the
    wrong order.
    """
    if format not in FORMATS:
        raise ExportError(f"Choose a format among {', '.join(FORMATS)}.", field="format")
    if start_date and end_date and start_date >= end_date:
        raise ExportError("startDate must come before endDate.", field="endDate")
    _check_known(
        question_ids,
        known={question_id(q) for q in survey.questions.all()},
        field="questionIds",
        what="questions of this survey (QID…, see GET /surveys/{surveyId})",
    )
    _check_known(
        embedded_data_ids,
        known=set(survey.fields.values_list("name", flat=True)),
        field="embeddedDataIds",
        what="embedded-data fields the survey declares",
    )
    export = ResponseExport.objects.create(
        survey=survey,
        requested_by=user,
        options={
            "format": format,
            "compress": compress,
            "useLabels": use_labels,
            "startDate": start_date.isoformat() if start_date else None,
            "endDate": end_date.isoformat() if end_date else None,
            "questionIds": question_ids,
            "embeddedDataIds": embedded_data_ids,
        },
    )
    export_id = export.pk
    transaction.on_commit(lambda: async_task(EXPORT_JOB, export_id), robust=True)
    return export


def _check_known(values: list[str] | None, *, known: set[str], field: str, what: str) -> None:
    unknown = [value for value in values or () if value not in known]
    if unknown:
        raise ExportError(f"Not among the {what}: {', '.join(unknown[:20])}.", field=field)


def response_export_run(*, export_id: int, use_copy: bool | None = None) -> str:
    """Produce the file of export `export_id` if it is still in progress. -> its status afterwards.

    CSV and TSV are written by PostgreSQL's COPY on PostgreSQL, by the csv module elsewhere (or
    as `use_copy` says: both write the same bytes).

    Idempotent: a job handed out twice, or again after its worker died, starts the file over;
    an export already complete or failed is left as it is. Any error fails the export with a
    message saying what happened (logged with its traceback), rather than retrying forever.
    """
    export = ResponseExport.objects.select_related("survey").filter(pk=export_id).first()
    if export is None or export.status != Status.IN_PROGRESS:
        return export.status if export else ""
    try:
        name, filename = _produce(export, use_copy=use_copy)
    except Exception as error:  # noqa: BLE001 - whatever stopped it, the requester must learn it failed
        logger.exception("Response export %s failed.", export.public_id)
        # The requester learns what kind of failure it was; the error's own text (file paths,
        # SQL, hosts) stays in the log, where the export's id finds it.
        cause = "the server could not write its file" if isinstance(error, OSError) else type(error).__name__
        ResponseExport.objects.filter(pk=export.pk, status=Status.IN_PROGRESS).update(
            status=Status.FAILED,
            error=f"The export stopped: {cause}. Start a new export; if it fails again, the server's log has "
            f"the details under export {export.public_id}.",
            completed_at=timezone.now(),
        )
        return Status.FAILED
    finished = ResponseExport.objects.filter(pk=export.pk, status=Status.IN_PROGRESS).update(
        status=Status.COMPLETE,
        percent_complete=100,
        file_name=name,
        filename=filename,
        file_id=str(uuid.uuid4()),
        completed_at=timezone.now(),
    )
    if not finished:  # deleted or purged meanwhile: its file has no row left to name it
        response_export_storage().delete(name)
    return Status.COMPLETE if finished else ""


def _produce(export: ResponseExport, *, use_copy: bool | None) -> tuple[str, str]:
    """Write the export's file to its storage. -> (storage name, download filename)."""
    options = export.options
    layout = export_layout(
        survey=export.survey,
        format=options["format"],
        use_labels=bool(options.get("useLabels")),
        question_ids=options.get("questionIds"),
        field_names=options.get("embeddedDataIds"),
    )
    base = _safe_filename(export.survey.name)
    inner = f"{base}.{layout.format}"
    with tempfile.TemporaryFile() as temporary:
        if options.get("compress", True):
            with (
                zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive,
                archive.open(inner, "w", force_zip64=True) as member,
            ):
                _write(export, layout, member, use_copy=use_copy)
            filename = f"{base}.zip"
        else:
            _write(export, layout, temporary, use_copy=use_copy)
            filename = inner
        temporary.seek(0)
        extension = filename.rsplit(".", 1)[1]
        name = response_export_storage().save(f"responses/{export.public_id}.{extension}", File(temporary))
    return name, filename


def _write(export: ResponseExport, layout: ExportLayout, out, *, use_copy: bool | None) -> None:
    responses = export_responses(export)
    last_id = responses.aggregate(last=Max("pk"))["last"]
    total = responses.count() if last_id is not None else 0
    responses = responses.filter(pk__lte=last_id or 0)
    if use_copy is None:
        use_copy = connection.vendor == "postgresql"
    use_copy = use_copy and layout.format in ("csv", "tsv")
    out.write(header(layout))
    if use_copy:
        # One COPY streams the whole file (a plan PostgreSQL can run in parallel); its rows are
        # counted as they arrive (they start once PostgreSQL has joined and sorted them), and
        # progress is written from another thread, on a connection of its own, since this one is
        # busy with the COPY until the end.
        with _Progress(export.pk, total, background=True) as progress:
            done = 0
            for data, done in copy_rows(layout, responses, step_rows=CHUNK_ROWS):
                out.write(data)
                if done % CHUNK_ROWS == 0:
                    progress.report(done)
            if done:
                progress.report(done)
    else:
        progress, done, after = _Progress(export.pk, total, background=False), 0, 0
        responses = responses.annotate(recipient_email=recipient_email())
        while rows := list(responses.filter(pk__gt=after).order_by("pk").values_list(*ROW_FIELDS)[:CHUNK_ROWS]):
            if layout.format in ("csv", "tsv"):
                out.write(csv_rows(layout, rows))
            else:
                out.write(json_rows(layout, rows, first=done == 0))
            after, done = rows[-1][0], done + len(rows)
            progress.report(done)
    out.write(footer(layout))


class _Progress:
    """The percentComplete of an export whose `total` rows are being written, saved as rows are done.

    Below 100 until the file is saved (complete is the status, not the count), and written at most
    once per PROGRESS_INTERVAL_SECONDS, each write being a commit of its own. `background`: the
    writes run in a thread of their own, on that thread's database connection (closed at the end).
    """

    def __init__(self, export_id: int, total: int, *, background: bool):
        self.export_id, self.total = export_id, total
        self.percent, self.reported_at = 0, float("-inf")
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-progress") if background else None

    def report(self, done: int) -> None:
        """`done` rows of `total` are written."""
        percent = min(99, done * 100 // self.total) if self.total else 99
        if percent != self.percent and time.monotonic() - self.reported_at >= PROGRESS_INTERVAL_SECONDS:
            self.percent, self.reported_at = percent, time.monotonic()
            if self.executor:
                self.executor.submit(self._save_logged, percent)
            else:
                self._save(percent)

    def _save(self, percent: int) -> None:
        ResponseExport.objects.filter(pk=self.export_id, status=Status.IN_PROGRESS).update(percent_complete=percent)

    def _save_logged(self, percent: int) -> None:
        try:
            self._save(percent)
        except Exception:  # noqa: BLE001 - progress is advisory: the export goes on, its end is what counts
            logger.warning("Could not save the progress of response export %s.", self.export_id, exc_info=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        if self.executor:
            self.executor.submit(connections.close_all)  # the thread's own connection
            self.executor.shutdown(wait=True)


def export_responses(export: ResponseExport):
    """The responses export `export` covers (its survey's, within its dates)."""
    responses = Response.objects.filter(survey_id=export.survey_id)
    start, end = export.options.get("startDate"), export.options.get("endDate")
    if start or end:
        recorded = Q()
        if start:
            recorded &= Q(recorded__gte=datetime.fromisoformat(start))
        if end:
            recorded &= Q(recorded__lt=datetime.fromisoformat(end))
        responses = responses.annotate(recorded=Coalesce("finished_at", "updated_at")).filter(recorded)
    return responses


def _safe_filename(name: str) -> str:
    """The survey's name as a file name: no path separators or control characters, at most 100 characters."""
    cleaned = "".join("_" if char in '/\\:*?"<>|' or not char.isprintable() else char for char in name).strip(" .")
    return cleaned[:100] or "responses"


def response_export_content_type(export: ResponseExport) -> str:
    return CONTENT_TYPES[export.filename.rsplit(".", 1)[-1]]


def response_exports_purge(*, now: datetime | None = None) -> int:
    """Delete exports (and files) finished more than EXPORT_RETENTION ago; fail those stalled
    in progress for STALLED_AFTER. -> exports deleted."""
    now = now or timezone.now()
    ResponseExport.objects.filter(status=Status.IN_PROGRESS, created_at__lt=now - STALLED_AFTER).update(
        status=Status.FAILED,
        error="The export did not finish: its worker stopped. Start a new export.",
        completed_at=now,
    )
    deleted, _ = ResponseExport.objects.filter(completed_at__lt=now - EXPORT_RETENTION).delete()
    return deleted


def response_export_deleted(sender, instance: ResponseExport, **kwargs) -> None:
    """post_delete receiver of ResponseExport: its file goes too, once the deletion commits."""
    if instance.file_name:
        storage, name = response_export_storage(), instance.file_name
        transaction.on_commit(lambda: storage.delete(name))


def response_export_open(export: ResponseExport):
    """The export's file, opened for reading (binary). Raises FileNotFoundError when it is gone."""
    if export.status != Status.COMPLETE or not export.file_name:
        raise FileNotFoundError(export.public_id)
    return response_export_storage().open(export.file_name, "rb")
