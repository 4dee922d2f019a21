"""What a file that is not CSV text is, from its first bytes, and what to do instead.

People upload what they have: a screenshot of the table, the spreadsheet itself, the
zip the data came in. The encoding advice a decoding error would give ("choose
latin-1") would import garbage; naming the file's kind and the step that turns it into
CSV is what helps. Signatures are the formats' own magic numbers; a zip is looked into
(its first entry names) to tell an Excel or OpenDocument spreadsheet from an archive.
"""

from __future__ import annotations

# (magic bytes at offset 0, what the file is, what to do instead)
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (
        b"\x89PNG\r\n\x1a\n",
        "a PNG image",
        "export the data itself as CSV (UTF-8) and upload that; a picture of a table "
        "cannot be imported",
    ),
    (
        b"\xff\xd8\xff",
        "a JPEG image",
        "export the data itself as CSV (UTF-8) and upload that; a picture of a table "
        "cannot be imported",
    ),
    (
        b"GIF87a",
        "a GIF image",
        "export the data itself as CSV (UTF-8) and upload that",
    ),
    (
        b"GIF89a",
        "a GIF image",
        "export the data itself as CSV (UTF-8) and upload that",
    ),
    (
        b"%PDF-",
        "a PDF document",
        "export the data as CSV (UTF-8) from the program that made the PDF and upload "
        "that; a table copied out of a PDF rarely keeps its columns",
    ),
    (
        b"\x1f\x8b",
        "a gzip-compressed file",
        "decompress it first (gunzip, or double-click it) and upload the CSV file inside",
    ),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old-style Excel spreadsheet (.xls) or another Microsoft Office file",
        "open it in Excel, choose File > Save As > CSV UTF-8 (Comma delimited) and upload that",
    ),
    (
        b"7z\xbc\xaf\x27\x1c",
        "a 7-Zip archive",
        "extract it first and upload the CSV file inside",
    ),
    (
        b"Rar!\x1a\x07",
        "a RAR archive",
        "extract it first and upload the CSV file inside",
    ),
    (
        b"BZh",
        "a bzip2-compressed file",
        "decompress it first (bunzip2) and upload the CSV file inside",
    ),
    (
        b"\xfd7zXZ\x00",
        "an xz-compressed file",
        "decompress it first (unxz) and upload the CSV file inside",
    ),
)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_XLSX = (
    "an Excel spreadsheet (.xlsx)",
    "in Excel choose File > Save As > CSV UTF-8 (Comma delimited), or in LibreOffice "
    "File > Save As > Text CSV with the character set UTF-8, and upload that",
)
_ODS = (
    "an OpenDocument spreadsheet (.ods)",
    "in LibreOffice choose File > Save As > Text CSV with the character set UTF-8, and upload that",
)
_DOCX = (
    "a Word document (.docx)",
    "put the table in a spreadsheet, save that as CSV (UTF-8) and upload it",
)
_ZIP = ("a zip archive", "extract it first and upload the CSV file inside")
HEAD_BYTES = 8 * 1024


def _zip_kind(head: bytes) -> tuple[str, str]:
    """Office files are zips; their first entries give them away."""
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head:
        return _ODS
    if b"xl/" in head or (b"[Content_Types].xml" in head and b"word/" not in head):
        return _XLSX
    if b"word/" in head:
        return _DOCX
    return _ZIP


def not_text_reason(head: bytes) -> str | None:
    """Why a file starting with `head` is not CSV text, with the step that helps; None
    when it may be text. UTF-16/32 with a byte order mark is text: check that first."""
    kind = None
    if head.startswith(_ZIP_MAGIC):
        kind = _zip_kind(head)
    for magic, name, advice in _SIGNATURES:
        if kind is None and head.startswith(magic):
            kind = (name, advice)
    if kind is not None:
        name, advice = kind
        return f"this is {name}, not a CSV file: {advice}"
    nul = head.find(b"\x00")
    if nul >= 0:
        return (
            f"this is not a CSV text file (binary content: a NUL byte at byte {nul}); "
            "upload the data as CSV (UTF-8), or if this is text saved as UTF-16 without "
            "a byte order mark, choose the encoding utf-16-le"
        )
    return None


def read_head(handle) -> bytes:
    """The first bytes of an open file (Django File or binary file), position kept at 0."""
    handle.seek(0)
    head = handle.read(HEAD_BYTES)
    handle.seek(0)
    return head if isinstance(head, bytes) else head.encode()
