"""Reading stored CSV files without ever holding one whole in memory.

The planner scans the file once as bytes and cuts it into chunks at record
boundaries (a newline outside double quotes), so each chunk task can seek to its
byte range. Quote and newline bytes mean the same in every ASCII-compatible
encoding (UTF-8, Latin-1, cp1252, ...), which is what makes the byte scan safe.
UTF-16/32 files (Excel's "Unicode Text" is UTF-16 LE) are not: `job_create`
converts them to UTF-8 as it stores them (`wide_encoding`, `transcode_to_utf8`),
so everything after it only ever reads an ASCII-compatible file.

Row numbers count CSV records with the header as row 1, like a spreadsheet.

One module over 400 lines on purpose: the byte scanner, the encodings and the record
reader must agree on what a record boundary is, so they live together.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from batches.filekinds import not_text_reason

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
# Bytes read from a UTF-16/32 file per step of its conversion to UTF-8.
TRANSCODE_BLOCK = 1024 * 1024
# UTF-32 LE's mark starts with UTF-16 LE's (FF FE), so it is tried first.
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
WIDE_FAMILIES = ("utf-16", "utf-32")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, binary, bad header, ...)."""


@dataclass
class FileLayout:
    encoding: str
    delimiter: str
    header: list[str]
    data_offset: int


@dataclass(frozen=True)
class WideEncoding:
    """How to read a UTF-16/32 file: a codec with an explicit byte order, and the BOM's length."""

    codec: str
    bom_length: int

    @property
    def label(self) -> str:
        return wide_label(self.codec)


@dataclass
class ChunkRange:
    offset: int
    length: int
    first_row: int
    rows: int


def raw_file(handle):
    """The underlying binary file of a Django File, for fast line iteration."""
    inner = getattr(handle, "file", handle)
    return inner if hasattr(inner, "readline") else handle


def iter_records(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Group physical lines into CSV records: a record ends at a newline outside quotes."""
    pending: list[bytes] = []
    inside = False
    for line in lines:
        if b'"' in line and line.count(b'"') & 1:
            inside = not inside
        if inside:
            pending.append(line)
            continue
        if pending:
            pending.append(line)
            yield b"".join(pending)
            pending = []
        else:
            yield line
    if pending:
        yield b"".join(pending)


def _normalise_encoding(encoding: str | None) -> str:
    name = (encoding or "utf-8").strip()
    try:
        canonical = codecs.lookup(name).name
    except LookupError:
        raise ImportFileError(f"unknown encoding {name!r}") from None
    return "utf-8" if canonical == "utf-8-sig" else canonical


def wide_label(codec: str) -> str:
    """ "utf-16-le" -> "UTF-16 LE", as people name it."""
    family, _, order = codec.partition("-")[2].partition("-")
    return f"UTF-{family} {order.upper()}".strip()


def _bom(head: bytes, family: str = "") -> tuple[str, int] | None:
    """(codec, length) of the UTF-16/32 byte order mark `head` starts with, if any."""
    for bom, codec in WIDE_BOMS:
        if head.startswith(bom) and codec.startswith(family):
            return codec, len(bom)
    return None


def _looks_big_endian(head: bytes, width: int) -> bool:
    # A header is mostly ASCII: in big-endian the zero bytes come first in each code unit.
    units = [head[i : i + width] for i in range(0, len(head) - width + 1, width)]
    first = sum(1 for unit in units if unit[0] == 0)
    last = sum(1 for unit in units if unit[-1] == 0)
    return first > last


def _bom_mismatch(codec: str, encoding: str | None) -> ImportFileError:
    return ImportFileError(
        f"the file starts with a {wide_label(codec)} byte order mark "
        f"but encoding {encoding!r} was given"
    )


def wide_encoding(head: bytes, encoding: str | None = None) -> WideEncoding | None:
    """The UTF-16/32 encoding of a file that starts with `head`; None for any other file.

    A UTF-16/32 byte order mark decides unless an encoding other than UTF-8 (the
    default) was chosen; a utf-16*/utf-32* encoding chosen explicitly applies without a
    mark too. When its name gives no byte order, the zero bytes of the (mostly ASCII)
    header tell it, and little-endian, as Windows writes, when they do not. A mark
    that contradicts the chosen encoding raises ImportFileError.
    """
    try:
        chosen = codecs.lookup((encoding or "utf-8").strip()).name
    except LookupError:
        return None  # inspect_file names the unknown encoding
    if not chosen.startswith(WIDE_FAMILIES):
        mark = _bom(head)
        if mark is None:
            return None
        if chosen not in ("utf-8", "utf-8-sig"):
            raise _bom_mismatch(mark[0], encoding)
        return WideEncoding(*mark)
    family = chosen[:6]
    # Chosen UTF-16 takes FF FE 00 00 as its own mark followed by U+0000, not as UTF-32's.
    mark = _bom(head, family)
    if mark and chosen not in (family, mark[0]):
        raise _bom_mismatch(mark[0], encoding)
    if mark:
        return WideEncoding(*mark)
    other = _bom(head)
    if other:
        raise _bom_mismatch(other[0], encoding)
    if chosen != family:
        return WideEncoding(chosen, 0)
    width = 2 if family == "utf-16" else 4
    return WideEncoding(f"{family}-{'be' if _looks_big_endian(head, width) else 'le'}", 0)


def _decode_problem(reason: str, width: int) -> str:
    if reason == "truncated data":
        return f"the file ends in the middle of a character (its size is not a multiple of {width})"
    if reason == "unexpected end of data":
        return "the file ends in the middle of a surrogate pair"
    if "surrogate code point" in reason:
        return "a surrogate code point, which is not a character"
    if "surrogate" in reason or reason == "illegal encoding":
        return "an unpaired surrogate"
    if "not in range" in reason:
        return "not a Unicode character"
    return reason


def transcode_to_utf8(source, target, *, wide: WideEncoding) -> str:
    """Write the UTF-16/32 file `source` to the binary file `target` as UTF-8; its sha256.

    Streams TRANSCODE_BLOCK bytes at a time through an incremental decoder (a code
    unit or surrogate pair split across two blocks is carried over), so memory does
    not grow with the file. The byte order mark is hashed but not written. Invalid
    input raises ImportFileError naming the row and the byte offset in `source`.
    """
    raw = raw_file(source)
    raw.seek(0)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(wide.codec)()
    position = 0  # of the next byte read from source
    skip = wide.bom_length
    while True:
        block = raw.read(TRANSCODE_BLOCK)
        digest.update(block)
        cut = min(skip, len(block))
        skip -= cut
        position += cut
        data = block[cut:]
        # Bytes of an incomplete character kept from the previous block: an error's
        # offset counts from where they started.
        carried = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, final=not block)
        except UnicodeDecodeError as exc:
            offset = position - carried + exc.start
            bad = exc.object[exc.start : exc.end]
            row = _row_at(raw, start=wide.bom_length, end=offset, codec=wide.codec)
            width = 2 if wide.codec.startswith("utf-16") else 4
            raise ImportFileError(
                f"row {row}: byte {offset} (0x{bad.hex()}) is not valid {wide.label}: "
                f"{_decode_problem(exc.reason, width)}"
            ) from None
        target.write(text.encode("utf-8"))
        position += len(data)
        if not block:
            return digest.hexdigest()


def _row_at(raw, *, start: int, end: int, codec: str) -> int:
    """The row (header = 1) of the byte at `end`: records that end before it, plus one.

    Only runs for an error, so it reads the valid part again instead of making the
    conversion count records for every file.
    """
    raw.seek(start)
    decoder = codecs.getincrementaldecoder(codec)()
    complete, inside, tail = 0, False, ""
    left = end - start
    while left > 0:
        block = raw.read(min(TRANSCODE_BLOCK, left))
        if not block:
            break
        left -= len(block)
        lines = (tail + decoder.decode(block)).split("\n")
        tail = lines.pop()  # the unfinished line: the error is in its record
        for line in lines:
            if line.count('"') & 1:
                inside = not inside  # same quote parity rule as iter_records
            if not inside:
                complete += 1
    return complete + 1


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _sniff_delimiter(text: str) -> str:
    lines = text.splitlines()[:20]
    if len(lines) > 1:
        try:
            found = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
        except csv.Error:
            found = ""
        if found and found in DELIMITERS:
            return found
    header = lines[0] if lines else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def inspect_file(
    handle, *, encoding: str | None = None, delimiter: str | None = None
) -> FileLayout:
    """Read the header and settle encoding and delimiter; raise ImportFileError on a bad file."""
    raw = raw_file(handle)
    raw.seek(0)
    sample = raw.read(SAMPLE_BYTES)
    if not sample.strip():
        raise ImportFileError("the file is empty" if not sample else "the file has no rows")
    wide = wide_encoding(sample, encoding)
    if wide is None and (reason := not_text_reason(sample)):
        raise ImportFileError(reason)
    if wide is not None:
        # job_create stores UTF-16/32 files converted to UTF-8; one still stored as such
        # did not convert, and the conversion says where.
        transcode_to_utf8(handle, _Discard(), wide=wide)
        raise ImportFileError(
            f"the file is {wide.label}; it is read after conversion to UTF-8, "
            f"which imports do when they store it"
        )
    codec = _normalise_encoding(encoding)
    start = 0
    if sample.startswith(codecs.BOM_UTF8):
        if codec != "utf-8":
            raise ImportFileError(
                f"the file starts with a UTF-8 byte order mark but encoding {encoding!r} was given"
            )
        start = len(codecs.BOM_UTF8)
    header_bytes = next(iter_records(io.BytesIO(sample[start:])), b"")
    if not header_bytes.endswith((b"\n", b"\r")) and start + len(header_bytes) == SAMPLE_BYTES:
        raise ImportFileError("row 1 (the header) is longer than 64 KiB; is this a CSV file?")
    try:
        header_text = header_bytes.decode(codec)
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"row 1 (the header): byte {start + exc.start} (0x{header_bytes[exc.start]:02x}) "
            f"is not valid {codec}; choose the file's encoding (for example latin-1)"
        ) from None
    if delimiter:
        if len(delimiter) != 1 or delimiter in '"\r\n':
            raise ImportFileError(f"invalid delimiter {delimiter!r}: use one character")
    else:
        delimiter = _sniff_delimiter(sample[start:].decode(codec, errors="replace"))
    header = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=delimiter), [])
    if not any(name.strip() for name in header):
        raise ImportFileError("row 1 (the header) is empty")
    return FileLayout(
        encoding=codec,
        delimiter=delimiter,
        header=[name.strip() for name in header],
        data_offset=start + len(header_bytes),
    )


# Every byte but the double quote and the newline: what `_odd_quotes_line` drops.
_NOT_QUOTE_OR_NEWLINE = bytes(c for c in range(256) if c not in b'"\n')
# A blank record is at most two bytes, all whitespace (as `_PlanState.feed` says);
# searched in b"\n" + block (a leading literal lets the regex engine skip ahead).
_BLANK_LINE = re.compile(rb"\n(?=[ \t\r\x0b\x0c]?\n)")


def _odd_quotes_line(body: bytes) -> bool:
    """Whether a line of `body` has an odd number of double quotes (it opens or closes
    a quoted field across lines). Kept to its quotes and newlines, with every pair of
    quotes dropped, a line is empty or one quote; pairs never span a newline."""
    return b'"' in body.translate(None, _NOT_QUOTE_OR_NEWLINE).replace(b'""', b"")


PLAN_BLOCK = 1024 * 1024


def plan_ranges(
    handle,
    *,
    data_offset: int,
    chunk_rows: int,
    first_rows: int | None = None,
    block: int = PLAN_BLOCK,
) -> Iterator[ChunkRange]:
    """Yield byte ranges of `chunk_rows` non-blank rows each (the first of `first_rows`,
    if that is fewer), as `plan_ranges_by_line` does, reading blocks: a block whose
    records are all one line each and that ends no chunk is counted in C (its newlines
    and blank lines), not line by line. From the first line that opens a quoted field
    across lines, the rest is read line by line. A generator: each range is yielded
    as soon as it is known, so the first is known after reading only its rows."""
    raw = raw_file(handle)
    raw.seek(data_offset)
    state = _PlanState(data_offset, chunk_rows, first_rows)
    pending = b""
    while True:
        data = raw.read(block)
        if not data:
            break
        data = pending + data
        cut = data.rfind(b"\n") + 1
        body, pending = data[:cut], data[cut:]
        if not body:
            continue
        if b'"' in body and _odd_quotes_line(body):
            lines = _chain_lines(_lines_of(body), pending, raw)
            yield from state.feed(iter_records(lines))
            pending = b""
            break
        yield from _plan_block(state, body)
    if pending:
        yield from state.feed([pending])
    yield from state.end()


def _plan_block(state: _PlanState, body: bytes) -> Iterator[ChunkRange]:
    """Ranges ending in a block of one-line records, its newlines counted in C; a block
    with a blank line where a chunk ends is read line by line."""
    while body:
        lines = body.count(b"\n")
        blank = len(_BLANK_LINE.findall(b"\n" + body))
        needed = state.chunk_rows - state.rows
        if lines - blank < needed:
            state.skip(len(body), lines, lines - blank)
            return
        if blank:
            yield from state.feed(_lines_of(body))
            return
        head = len(body) - len(body.split(b"\n", needed)[-1])
        state.skip(head, needed, needed)
        yield from state.end()
        body = body[head:]


def _lines_of(body: bytes) -> list[bytes]:
    """The lines of a block that ends with a newline, as file iteration gives them
    (split at b"\\n" only: bytes.splitlines would split at a lone \\r too)."""
    return [line + b"\n" for line in body.split(b"\n")[:-1]]


def _chain_lines(first: list[bytes], pending: bytes, raw) -> Iterator[bytes]:
    yield from first
    head = pending + raw.readline()
    if head:
        yield head
    yield from raw


class _PlanState:
    """Where `plan_ranges` is: the open chunk's start, rows and first row number."""

    def __init__(self, data_offset: int, chunk_rows: int, first_rows: int | None = None) -> None:
        self.position = self.chunk_start = data_offset
        self.records = 0  # records read so far, blank ones included (row numbers stay honest)
        self.chunk_first_row = 2
        self.rows = 0
        self.later_rows = chunk_rows
        self.chunk_rows = min(first_rows or chunk_rows, chunk_rows)

    def skip(self, length: int, records: int, rows: int) -> None:
        self.position += length
        self.records += records
        self.rows += rows

    def feed(self, records: Iterable[bytes]) -> Iterator[ChunkRange]:
        for record in records:
            self.position += len(record)
            self.records += 1
            if len(record) <= 2 and not record.strip():
                continue
            self.rows += 1
            if self.rows == self.chunk_rows:
                yield from self.end()

    def end(self) -> Iterator[ChunkRange]:
        """The open chunk, if it has rows; the next one starts here."""
        if self.rows:
            yield ChunkRange(
                self.chunk_start, self.position - self.chunk_start, self.chunk_first_row, self.rows
            )
            self.chunk_start = self.position
            self.chunk_first_row = self.records + 2
            self.rows = 0
            self.chunk_rows = self.later_rows


def plan_ranges_by_line(
    handle, *, data_offset: int, chunk_rows: int, first_rows: int | None = None
) -> Iterator[ChunkRange]:
    """Stream the data records and yield byte ranges of `chunk_rows` non-blank rows each
    (the first of `first_rows`, if that is fewer)."""
    raw = raw_file(handle)
    raw.seek(data_offset)
    state = _PlanState(data_offset, chunk_rows, first_rows)
    yield from state.feed(iter_records(raw))
    yield from state.end()


def file_checksum(handle) -> str:
    raw = raw_file(handle)
    raw.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: raw.read(1024 * 1024), b""):
        digest.update(block)
    return digest.hexdigest()


@dataclass
class UndecodableRow:
    row_number: int
    message: str
    values: list[str]


def read_range(
    handle, *, offset: int, length: int, first_row: int, encoding: str, delimiter: str
) -> tuple[Iterator[tuple[int, list[str]]], list[UndecodableRow]]:
    """(row_number, cells) of a byte range, and the rows whose bytes do not decode."""
    data = read_bytes(handle, offset=offset, length=length)
    return records_in(
        data, offset=offset, first_row=first_row, encoding=encoding, delimiter=delimiter
    )


def read_bytes(handle, *, offset: int, length: int) -> bytes:
    raw = raw_file(handle)
    raw.seek(offset)
    return raw.read(length)


def records_in(
    data: bytes, *, offset: int, first_row: int, encoding: str, delimiter: str
) -> tuple[Iterator[tuple[int, list[str]]], list[UndecodableRow]]:
    """(row_number, cells) of a byte range read from `offset`, and the rows whose bytes
    do not decode; the rows are parsed as they are iterated."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return _read_range_slowly(data, offset, first_row, encoding, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return _numbered(reader, first_row), []


def _numbered(reader, first_row: int) -> Iterator[tuple[int, list[str]]]:
    for number, cells in enumerate(reader, first_row):
        if cells:
            yield number, cells


def _read_range_slowly(data: bytes, offset: int, first_row: int, encoding: str, delimiter: str):
    """Decode record by record so one bad byte rejects one row, not the chunk."""
    good: list[tuple[int, list[str]]] = []
    bad: list[UndecodableRow] = []
    position = offset
    for number, record in enumerate(iter_records(io.BytesIO(data)), first_row):
        try:
            text = record.decode(encoding)
        except UnicodeDecodeError as exc:
            bad.append(
                UndecodableRow(
                    number,
                    f"row {number}: byte {position + exc.start} (0x{record[exc.start]:02x}) is "
                    f"not valid {encoding}; choose the file's encoding (for example latin-1)",
                    next(
                        csv.reader(
                            io.StringIO(record.decode(encoding, errors="replace"), newline=""),
                            delimiter=delimiter,
                        ),
                        [],
                    ),
                )
            )
        else:
            cells = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
            if cells:
                good.append((number, cells))
        position += len(record)
    return iter(good), bad
