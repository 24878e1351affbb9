"""Evidence files: which kinds of file the portal keeps, told by their content (magic bytes), never by their name.

Pure functions: bytes in, a kind or a plain-words refusal out. services.evidence_attach calls `check` before anything
is stored (licensing.models.evidence.EvidenceFile, licensing.admin.evidence).
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

from django.core.exceptions import ValidationError


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    content_type: str


PDF = Kind("pdf", "PDF document", "application/pdf")
PNG = Kind("png", "PNG image", "image/png")
JPEG = Kind("jpeg", "JPEG image", "image/jpeg")
TEXT = Kind("text", "CSV or plain text", "text/plain")
XLSX = Kind("xlsx", "Excel workbook (XLSX)", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
DOCX = Kind("docx", "Word document (DOCX)", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
KINDS = (PDF, PNG, JPEG, TEXT, XLSX, DOCX)
ACCEPTED = "PDF, PNG, JPEG, CSV or plain text, XLSX or DOCX"
# Text is UTF-8 without control characters other than tab, line feed, form feed and carriage return.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _office_kind(content: bytes) -> Kind | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(name.startswith("xl/") for name in names):
        return XLSX
    if any(name.startswith("word/") for name in names):
        return DOCX
    return None


# Markup a browser would render (and run the scripts of) if the file were ever opened in it: HTML, SVG, XML.
_MARKUP = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|script|svg|\?xml|iframe)\b", re.I | re.S
)
_MARKUP_ANYWHERE = re.compile(rb"<(?:script|svg|html|iframe)\b", re.I)


def is_markup(content: bytes) -> bool:
    """Whether text content is HTML, SVG or XML markup (refused: it passes as text otherwise)."""
    body = content.removeprefix(b"\xef\xbb\xbf")
    return bool(_MARKUP.match(body) or _MARKUP_ANYWHERE.search(body[:4096]))


def _text(content: bytes) -> bool:
    if _CONTROL.search(content):
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def kind_of(content: bytes) -> Kind | None:
    """The kind of file `content` is, from its first bytes (and, for XLSX/DOCX, its ZIP directory); None if none."""
    if content.startswith(b"%PDF-"):
        return PDF
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"PK\x03\x04"):
        return _office_kind(content)
    if content and _text(content.removeprefix(b"\xef\xbb\xbf")):
        return TEXT
    return None


def too_big(*, name: str, size: int, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"{name} is {size / 1_000_000:.1f} MB; evidence files may be at most {max_bytes / 1_000_000:g} MB."
    )


def check(content: bytes, *, name: str, max_bytes: int) -> Kind:
    """The file's kind, or a ValidationError saying in plain words why it is refused."""
    if not content:
        raise ValidationError(f"{name} is empty: choose the file again.")
    if len(content) > max_bytes:
        raise too_big(name=name, size=len(content), max_bytes=max_bytes)
    kind = kind_of(content)
    if kind is TEXT and is_markup(content):
        raise ValidationError(
            f"{name} is HTML, SVG or XML markup, which the portal does not keep as evidence (a browser would run "
            f"what it contains): save it as PDF, or upload a {ACCEPTED} file."
        )
    if kind is None:
        raise ValidationError(
            f"{name} is not a file type the portal keeps as evidence (told by its content, not its name): "
            f"upload a {ACCEPTED} file."
        )
    return kind
