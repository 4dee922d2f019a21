"""The compatible path: the Resource's own row machinery, one chunk at a time.

For Resources that override row hooks or options (see `batches.features`). Each row
goes through the steps of django-import-export's `Resource.import_row`, calling the
Resource's own methods in the same order with the same arguments:
`before_import_row`, `get_or_init_instance` (with an instance loader),
`after_init_instance`, `import_instance` (so `import_field`, `Field.clean`, the
widgets), `skip_row`, `validate_instance` (`full_clean` if asked), then
`before_save_instance`; after the chunk's writes, `after_save_instance`, `save_m2m`
and `after_import_row`. What changes is how the database is reached:

- the chunk's existing rows are loaded in one query by the natural key (after
  `before_import_row`, which may change a key), and a plain `ForeignKeyWidget`'s
  related rows in one query per column; the instance loader answers from them;
- new rows are inserted and existing ones updated in bulk, with the values save()
  would write (`batches.writer.instances_write`); `after_save_instance` and
  `after_import_row` run after the writes, so new instances already have their pk.

Hooks must not depend on other rows of the file: chunks run in parallel processes
(import_data() runs them in one process, in file order).

One module over 400 lines on purpose: it mirrors `Resource.import_row` step by step,
and reading the steps in one place is how to check it still does.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from copy import deepcopy
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, models, transaction
from import_export.results import RowResult

from batches.cells import (
    INVALID,
    FieldError,
    converts_by_value,
    widget_message,
)
from batches.features import import_fields, model_field_of, overridden
from batches.headers import check_header, known_columns
from batches.instancefill import InstanceFill
from batches.instances import instances_write
from batches.loading import ChunkForeignKeyWidget, ChunkInstanceLoader, plain_foreign_key
from batches.purity import clean_once_per_value
from batches.rejections import Rejected
from batches.valuelanes import SLOW, value_lane

Claim = Callable[[list[int], list[str]], dict[int, int]]
# Rows taken through the steps at a time: a chunk's memory depends on this, not on its size.
BATCH_ROWS = 2_000
_COUNTS = {
    RowResult.IMPORT_TYPE_NEW: "new",
    RowResult.IMPORT_TYPE_UPDATE: "updated",
    RowResult.IMPORT_TYPE_SKIP: "unchanged",
}


@dataclass
class ChunkOutcome:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass
class _Row:
    number: int
    index: int
    cells: list[str]
    data: OrderedDict
    kwargs: dict
    result: RowResult
    key: tuple | None = None
    instance: models.Model | None = None
    new: bool = False
    original: models.Model | None = None
    diff: object = None
    done: bool = False  # rejected
    counted: bool = False  # in the outcome's new/updated/unchanged

    def light(self) -> _Row:
        """The row without its instance and results (kept for a dry run's key claims)."""
        self.instance = self.original = self.diff = None
        return self


def check_compatible_header(dataset, header: list[str]) -> None:
    """The file's header for the compatible path: key columns present, nothing unknown.

    Other Resource columns may be missing: import_data() leaves those fields alone.
    """
    resource = dataset.resource_class()
    key = [resource.fields[name].column_name for name in resource.get_import_id_fields()]
    check_header(
        header,
        known=known_columns(resource),
        required=key,
        expected=[f.column_name for f in import_fields(resource)],
        ignore_extra_columns=dataset.ignore_extra_columns,
    )


class CompatibleChunk:
    """One chunk through the Resource's row machinery; see the module docstring."""

    def __init__(self, dataset, header: list[str], *, dry_run: bool):
        self.dataset = dataset
        self.header = [name.strip() for name in header]
        self.dry_run = dry_run
        self.resource = dataset.resource_class()
        self.meta = self.resource._meta
        self.model = self.meta.model
        resource_class = dataset.resource_class
        self.shows_results = overridden(resource_class, "after_import_row")
        self.needs_original = not self.meta.skip_diff and (
            self.meta.skip_unchanged or overridden(resource_class, "skip_row") or self.shows_results
        )
        self.by_attribute = {f.attribute: f.column_name for f in import_fields(self.resource)}
        for f in import_fields(self.resource):
            model_field = model_field_of(self.model, f.attribute)
            if model_field is not None:
                self.by_attribute.setdefault(model_field.name, f.column_name)
        # import_instance() as the library writes it, each cleaning a lookup; or, where
        # the Resource overrides a step of it, its own. Field.clean is answered once per
        # value where that gives the same (the key's fields are cleaned for the loader).
        self.fill = InstanceFill.for_resource(self.resource)
        self.own_save_m2m = overridden(resource_class, "save_m2m")
        for resource_field in import_fields(self.resource):
            if converts_by_value(resource_field):  # the Resource's fields are its own copies
                resource_field.clean = clean_once_per_value(
                    resource_field, lane=value_lane(resource_field.widget), slow=SLOW
                )
        self.outcome = ChunkOutcome()
        self.careful = False  # a savepoint per row step (see run())
        self.seen_keys: dict[tuple, int] = {}  # natural key -> first row, over the chunk

    # -- the rows ----------------------------------------------------------------------

    def run(
        self,
        records: Iterable[tuple[int, list[str]]],
        *,
        first_index: int,
        write: bool,
        claim: Claim | None = None,
    ) -> ChunkOutcome:
        """Every row through import_row()'s steps; writes unless `write` is False.

        A dry run (the validate phase of an all-or-nothing import, the preview) writes
        in a savepoint it rolls back, as import_data(dry_run=True) does in its
        transaction; the keys are then claimed after the rollback, so they stay.
        """
        records = list(records)
        try:
            return self._attempt(records, first_index, write=write, claim=claim)
        except DatabaseError as exc:
            if isinstance(exc, OperationalError | InterfaceError) or self.careful:
                raise
        # A database error in a row's own steps (a hook writing a duplicate, say) left
        # the attempt's savepoint unusable: run the chunk again with a savepoint per
        # row, so that row is rejected and the others go on, as in import_data().
        careful = CompatibleChunk(self.dataset, self.header, dry_run=self.dry_run)
        careful.careful = True
        return careful._attempt(records, first_index, write=write, claim=claim)

    def _attempt(self, records, first_index: int, *, write: bool, claim: Claim | None):
        """The chunk in batches of BATCH_ROWS rows: memory follows that, not the chunk."""
        claimable: list[_Row] = []
        with transaction.atomic():
            for start in range(0, len(records), BATCH_ROWS):
                batch = records[start : start + BATCH_ROWS]
                pending = self._through(batch, first_index + start)
                if claim is not None and not self.dry_run:
                    pending = self._claimed(pending, claim)
                self._finished(pending, write=write)
                if self.dry_run:
                    claimable += [row.light() for row in pending if not row.done]
            if self.dry_run:
                transaction.set_rollback(True)
        if claim is not None and claimable:
            self._claimed(claimable, claim)
        self.outcome.rejected.sort(key=lambda r: r.row_number)
        return self.outcome

    def _step(self):
        """A savepoint around one row's step in careful mode; nothing otherwise."""
        return transaction.atomic() if self.careful else nullcontext()

    def _passes(self, exc: BaseException) -> bool:
        """Whether an exception in a row's step is not the row's problem (see run())."""
        if isinstance(exc, SoftTimeLimitExceeded | OperationalError | InterfaceError):
            return True
        return isinstance(exc, DatabaseError) and not self.careful

    def _through(self, records, first_index: int) -> list[_Row]:
        rows = self._prepared(records, first_index)
        self._foreign_keys_loaded(rows)
        loader = ChunkInstanceLoader(self.resource)
        for row in rows:
            if not row.done:
                row.key = loader.key_of(row.data)
        if not self.meta.force_init_instance:
            loader.load(row.key for row in rows if row.key is not None and not row.done)
        self._duplicates_rejected(rows)
        return [row for row in rows if not row.done and self._row_through(row, loader)]

    def _finished(self, pending: list[_Row], *, write: bool) -> None:
        if write:
            pending = self._written(pending)
        for row in pending:
            self._row_finished(row, wrote=write)

    def _prepared(self, records, first_index: int) -> list[_Row]:
        width = len(self.header)
        rows = []
        result_class = self.resource.get_row_result_class()
        for offset, (number, cells) in enumerate(records):
            if len(cells) != width:
                message = f"row {number} has {len(cells)} fields; the header has {width}"
                self.outcome.rejected.append(Rejected(number, [], message, cells))
                continue
            index = first_index + offset
            data = OrderedDict(zip(self.header, cells, strict=True))
            kwargs = {"dry_run": self.dry_run, "using_transactions": True, "row_number": index}
            result = result_class()
            if self.meta.store_row_values:
                result.row_values = data
            row = _Row(number, index, cells, data, kwargs, result)
            try:
                with self._step():
                    self.resource.before_import_row(data, **kwargs)
            except Exception as exc:
                if self._passes(exc):
                    raise
                self._reject(row, exc, step="before_import_row()")
            rows.append(row)
        return rows

    def _foreign_keys_loaded(self, rows: list[_Row]) -> None:
        for resource_field in import_fields(self.resource):
            widget = resource_field.widget
            if isinstance(widget, ChunkForeignKeyWidget):
                widget = widget.original  # the previous batch's: load this batch's values
            if not plain_foreign_key(widget):
                continue
            name = resource_field.column_name
            values = {str(row.data[name]) for row in rows if not row.done and row.data.get(name)}
            resource_field.widget = ChunkForeignKeyWidget(widget, values)

    def _duplicates_rejected(self, rows: list[_Row]) -> None:
        """A key met twice in the chunk: the later row is rejected, as the fast path does."""
        keys = [self.resource.fields[n] for n in self.resource.get_import_id_fields()]
        names = [f.column_name for f in keys]
        seen = self.seen_keys
        for row in rows:
            if row.done or row.key is None:
                continue
            first = seen.setdefault(row.key, row.number)
            if first != row.number:
                shown = ", ".join(str(row.data.get(n, "")) for n in names)
                self._rejected(
                    row,
                    names,
                    f"row {row.number}: duplicate key ({', '.join(names)}) = ({shown}); "
                    f"row {first} has the same key and was kept",
                )

    def _row_through(self, row: _Row, loader: ChunkInstanceLoader) -> bool:
        """import_row()'s steps up to the save; False if the row ended (skip, reject)."""
        resource, kwargs = self.resource, row.kwargs
        try:
            with self._step():
                instance, new = resource.get_or_init_instance(loader, row.data)
                resource.after_init_instance(instance, new, row.data, **kwargs)
                row.instance, row.new = instance, new
                row.result.import_type = (
                    RowResult.IMPORT_TYPE_NEW if new else RowResult.IMPORT_TYPE_UPDATE
                )
                if self.needs_original:
                    row.original = deepcopy(instance)
                    if self.shows_results:
                        row.diff = resource.get_diff_class()(resource, row.original, new)
                errors: dict = {}
                try:
                    if self.fill is not None:
                        self.fill.fill(instance, row.data, kwargs)
                    else:
                        resource.import_instance(instance, row.data, **kwargs)
                except ValidationError as exc:
                    errors = exc.update_error_dict(errors)
                if resource.skip_row(instance, row.original, row.data, errors):
                    row.result.import_type = RowResult.IMPORT_TYPE_SKIP
                    self.outcome.unchanged += 1
                    row.counted = True
                    return True
                resource.validate_instance(instance, errors)
                resource.before_save_instance(instance, row.data, **kwargs)
        except Exception as exc:
            if self._passes(exc):
                raise
            self._reject(row, exc, step="")
            return False
        return True

    def _claimed(self, rows: list[_Row], claim: Claim) -> list[_Row]:
        """Claim the keys across the job's chunks; a key another chunk holds is rejected."""
        keyed = [(row.number, "\x1f".join(map(str, row.key))) for row in rows if row.key]
        taken = claim([number for number, _ in keyed], [key for _, key in keyed])
        if not taken:
            return rows
        names = [self.resource.fields[n].column_name for n in self.resource.get_import_id_fields()]
        kept = []
        for row in rows:
            other = taken.get(row.number)
            if other is None:
                kept.append(row)
                continue
            shown = ", ".join(str(row.data.get(n, "")) for n in names)
            self._rejected(
                row,
                names,
                f"row {row.number}: duplicate key ({', '.join(names)}) = ({shown}) also on "
                f"row {other}",
            )
        return kept

    def _written(self, rows: list[_Row]) -> list[_Row]:
        file_fields = [
            model_field.name
            for name in self.header
            for f in import_fields(self.resource)
            if f.column_name == name
            and (model_field := model_field_of(self.model, f.attribute)) is not None
        ]
        failed: dict[int, tuple[str, str]] = {}
        for new in (True, False):
            group = [
                row
                for row in rows
                if row.new is new and row.result.import_type != RowResult.IMPORT_TYPE_SKIP
            ]
            refused = instances_write(
                model=self.model,
                objs=[row.instance for row in group],  # type: ignore[misc]
                new=new,
                file_fields=file_fields,
            )
            failed.update({id(group[i]): problem for i, problem in refused.items()})
        kept = []
        for row in rows:
            problem = failed.get(id(row))
            if problem is None:
                kept.append(row)
                if row.result.import_type == RowResult.IMPORT_TYPE_NEW:
                    self.outcome.new += 1
                    row.counted = True
                elif row.result.import_type == RowResult.IMPORT_TYPE_UPDATE:
                    self.outcome.updated += 1
                    row.counted = True
            else:
                field_name, message = problem
                column = self.by_attribute.get(field_name, field_name)
                if column:
                    text = f"row {row.number}, column {column!r}: {message}"
                    self._rejected(row, [column], text, field_errors={column: message})
                else:
                    self._rejected(row, [], f"row {row.number}: {message}")
        return kept

    def _row_finished(self, row: _Row, *, wrote: bool) -> None:
        """import_row()'s steps after the save, in file order."""
        resource, kwargs, result = self.resource, row.kwargs, row.result
        try:
            with self._step():
                if wrote and result.import_type != RowResult.IMPORT_TYPE_SKIP:
                    resource.after_save_instance(row.instance, row.data, **kwargs)
                    if self._m2m_saved():
                        resource.save_m2m(row.instance, row.data, **kwargs)
                if not self.shows_results:
                    return
                result.add_instance_info(row.instance)
                if self.meta.store_instance:
                    result.instance = row.instance
                if row.diff is not None:
                    row.diff.compare_with(resource, row.instance)  # type: ignore[attr-defined]
                    if not row.new:
                        result.original = row.original
                    if not self.meta.skip_html_diff:
                        result.diff = row.diff.as_html()  # type: ignore[attr-defined]
                resource.after_import_row(row.data, result, **kwargs)
        except Exception as exc:
            if self._passes(exc):
                raise
            self._reject(row, exc, step="")

    def _m2m_saved(self) -> bool:
        """Whether save_m2m() has something to do: the library's sets only the fields
        with a ManyToManyWidget (the fill knows whether there are any)."""
        fill = self.fill
        return self.own_save_m2m or fill is None or fill.has_m2m or not fill.same_widgets()

    # -- rejections --------------------------------------------------------------------

    def _rejected(self, row: _Row, columns: Sequence[str], message: str, **extra) -> None:
        if row.counted:  # written or skipped, then refused (a later hook, another chunk)
            name = _COUNTS[row.result.import_type]
            setattr(self.outcome, name, getattr(self.outcome, name) - 1)
            row.counted = False
        row.done = True
        self.outcome.rejected.append(
            Rejected(row.number, list(columns), message, row.cells, **extra)
        )

    def _reject(self, row: _Row, exc: Exception, *, step: str) -> None:
        """A row import_row() would report: invalid (a ValidationError) or an error."""
        if isinstance(exc, ValidationError):
            errors = exc.update_error_dict({})
            columns, parts = [], []
            for key, messages in errors.items():
                text = " ".join(str(m) for e in messages for m in getattr(e, "messages", [e]))
                if key == NON_FIELD_ERRORS:
                    parts.append(f"row {row.number}: {text}")
                    continue
                column = self.by_attribute.get(key, key)
                columns.append(column)
                parts.append(f"row {row.number}, column {column!r}: {text}")
            field_errors = {c: p.split(": ", 1)[-1] for c, p in zip(columns, parts, strict=False)}
            self._rejected(row, columns, "; ".join(parts), field_errors=field_errors, kind=INVALID)
            return
        if isinstance(exc, FieldError):
            self._rejected(row, [], f"row {row.number}: {exc}")
            return
        column, text = self._failing_column(row, exc)
        if step:
            text = f"{step} raised {type(exc).__name__}: {exc}"
        if column:
            self._rejected(
                row,
                [column],
                f"row {row.number}, column {column!r}: {text}",
                field_errors={column: text},
            )
        else:
            self._rejected(row, [], f"row {row.number}: {text}")

    def _failing_column(self, row: _Row, exc: Exception) -> tuple[str, str]:
        """The column whose widget raised `exc`, found by reading the fields again."""
        for resource_field in import_fields(self.resource):
            name = resource_field.column_name
            if name not in row.data:
                continue
            try:
                with self._step():
                    resource_field.clean(row.data, **row.kwargs)
            except type(exc) as again:
                return name, widget_message(resource_field.widget, str(row.data[name]), again)
            except Exception:
                continue
        return "", f"{type(exc).__name__}: {exc}"
