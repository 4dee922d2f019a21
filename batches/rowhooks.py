"""The fast path after a row hook: a chunk's rows through `before_import_row` first.

For Resources whose only row-level override is a `before_import_row` that only
rewrites its own row (`batches.hookreaders.row_hook_refusal` reads its source). Such a hook
is a function from the row to the row, so calling it on every row of a chunk and then
converting the rows a column at a time gives what import_row() gives one row at a
time. The hook is called as the compatible path calls it: on an `OrderedDict` of the
header's (stripped) names and the row's cells, with `dry_run`, `using_transactions`
and `row_number`; a row whose width is not the header's is not handed to it (it is
rejected as such).

The fast path converts text. A chunk where the hook raises, or leaves a row with other
keys or a value that is not a `str`, is handed back (None) and takes the compatible
path, which calls the hook again: that changes nothing, the hook having no effect
beyond its row.

`validated_after_hook` also serves the fast path with the instance hook: there the rows
are validated as they are, then go through `before_save_instance`
(`batches.instancehooks`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice

from celery.exceptions import SoftTimeLimitExceeded

from batches.features import INSTANCE_HOOK_FAST
from batches.headers import HeaderError
from batches.instancehooks import InstanceHook
from batches.rows import HeaderPlan, ValidatedRows

Record = tuple[int, list[str]]
TEXT = {str}
# Rows through the hook and validated at a time.
SLICE_ROWS = 10_000


def records_through_hook(
    resource, header: list[str], records: Iterable[Record], *, first_index: int, dry_run: bool
) -> list[Record] | None:
    """Each record with its cells as the hook left them; None where the fast path cannot
    take the chunk (see the module docstring)."""
    names = [name.strip() for name in header]
    width = len(names)
    hook = resource.before_import_row
    through: list[Record] = []
    for offset, (number, cells) in enumerate(records):
        if len(cells) != width:
            through.append((number, cells))
            continue
        row = OrderedDict(zip(names, cells, strict=True))
        try:
            hook(row, dry_run=dry_run, using_transactions=True, row_number=first_index + offset)
        except SoftTimeLimitExceeded:
            raise
        except Exception:
            return None  # the compatible path reports it, as import_row() would
        # The hook cannot delete a key (`del`, pop() and the like refuse it), so a row
        # of the header's width still has the header's keys, in order.
        values = [*row.values()]
        if len(values) != width or (values != cells and set(map(type, values)) != TEXT):
            return None
        through.append((number, values))
    return through


def with_original_cells(rejected: list, records: Iterable[Record]) -> list:
    """Rejected rows carry the file's cells, as on the compatible path, not the hook's
    (`records`: the chunk read again; only the rejected rows' cells are kept)."""
    wanted = {problem.row_number for problem in rejected}
    if not wanted:
        return rejected
    cells_of = {number: cells for number, cells in records if number in wanted}
    for problem in rejected:
        problem.values = cells_of.get(problem.row_number, problem.values)
    return rejected


def validated_after_hook(
    dataset, header: list[str], records: Iterable[Record], *, first_index: int, dry_run: bool
) -> tuple[HeaderPlan, ValidatedRows] | None:
    """The chunk's rows after the row hook, validated by the fast path's plan, SLICE_ROWS
    rows at a time (a slice's cells are let go once it is validated, so a worker's
    memory follows the slice, not the chunk). On the fast path with the instance hook
    the rows are validated as they are, then go through that hook
    (`batches.instancehooks`). None: the chunk takes the compatible path. Rejected
    rows carry the row hook's cells: see `with_original_cells`."""
    try:
        plan = dataset.spec.plan(header, ignore_extra_columns=dataset.ignore_extra_columns)
    except HeaderError:
        return None  # the compatible path's header rules admitted it
    instance_hook = None
    if dataset.path == INSTANCE_HOOK_FAST:
        instance_hook = InstanceHook.for_chunk(dataset, plan)
        if instance_hook is None:
            return None
    resource = dataset.resource_class()
    result = ValidatedRows()
    kept: dict[str, int] = {}  # key -> the row that has it, over the chunk
    records = iter(records)
    start = first_index
    while part := list(islice(records, SLICE_ROWS)):
        if instance_hook is None:
            through = records_through_hook(
                resource, header, part, first_index=start, dry_run=dry_run
            )
            if through is None:
                return None
        else:
            through = part
        validated = plan.validate(through, first_index=start)
        if instance_hook is not None and not instance_hook.through(
            validated, part, first_index=start, dry_run=dry_run
        ):
            return None
        start += len(part)
        result.seen += validated.seen
        result.rejected += validated.rejected
        for line, row, key in zip(
            validated.lines, validated.line_rows, validated.line_keys, strict=True
        ):
            first = kept.setdefault(key, row)
            if first != row:  # a key an earlier slice has: as validate() words it
                result.rejected.append(
                    plan.duplicate_rejected(row, key, first, plan.cells_of_line(line))
                )
                continue
            result.lines.append(line)
            result.line_rows.append(row)
            result.line_keys.append(key)
    result.rejected.sort(key=lambda problem: problem.row_number)
    if instance_hook is not None:
        written = instance_hook.writing_plan()
        if written is None:
            return None
        plan = written
    return plan, result
