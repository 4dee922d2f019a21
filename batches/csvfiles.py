"""Reading stored CSV files without ever holding one whole in memory.

The planner scans the file once as bytes and cuts it into chunks at record
boundaries (a newline outside double quotes), so each chunk task can seek to its
byte range. Quote and newline bytes mean the same in every ASCII-compatible
encoding (UTF-8, Latin-1, cp1252, ...), which is what makes the byte scan safe;
UTF-16/32 files are refused with a message.

Row numbers count CSV records with the header as row 1, like a spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t|"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, binary, bad header, ...)."""


@dataclass
class FileLayout:
    encoding: str
    delimiter: str
    header: list[str]
    data_offset: int


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
    if canonical.startswith(("utf-16", "utf-32")):
        raise ImportFileError(
            f"encoding {name!r} is not supported; save the file as UTF-8 (or Latin-1)"
        )
    return "utf-8" if canonical == "utf-8-sig" else canonical


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
    nul = sample.find(b"\x00")
    if nul >= 0:
        raise ImportFileError(
            f"this is not a CSV text file (binary content: a NUL byte at byte {nul})"
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


def plan_ranges(handle, *, data_offset: int, chunk_rows: int) -> Iterator[ChunkRange]:
    """Stream the data records and yield byte ranges of `chunk_rows` non-blank rows each."""
    raw = raw_file(handle)
    raw.seek(data_offset)
    position = chunk_start = data_offset
    records = 0  # records read so far, blank ones included (they keep row numbers honest)
    chunk_first_row = 2
    rows = 0
    for record in iter_records(raw):
        position += len(record)
        records += 1
        if len(record) <= 2 and not record.strip():
            continue
        rows += 1
        if rows == chunk_rows:
            yield ChunkRange(chunk_start, position - chunk_start, chunk_first_row, rows)
            chunk_start = position
            chunk_first_row = records + 2
            rows = 0
    if rows:
        yield ChunkRange(chunk_start, position - chunk_start, chunk_first_row, rows)


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
    raw = raw_file(handle)
    raw.seek(offset)
    data = raw.read(length)
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
