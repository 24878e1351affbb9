"""Evidence files are accepted by what their content is (magic bytes), never by their name, and up to a size."""

import io
import zipfile

import openpyxl
import pytest
from django.core.exceptions import ValidationError

from licensing import evidence

MB = 1_000_000


def office(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}/document.xml", "<document/>")
    return buffer.getvalue()


def workbook() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Identifier", "Name", "Role"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"%PDF-1.7\n%...", evidence.PDF),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", evidence.PNG),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", evidence.JPEG),
        (b"identifier,name,role\r\nE1,Pat Doe,Physician\r\n", evidence.TEXT),
        ("\ufeffNom;Rôle\nE1;Médecin\n".encode(), evidence.TEXT),
        (workbook(), evidence.XLSX),
        (office("word"), evidence.DOCX),
    ],
)
def test_accepted_kinds_are_told_by_content(content, kind):
    assert evidence.kind_of(content) == kind
    assert evidence.check(content, name="letter.bin", max_bytes=MB) == kind


@pytest.mark.parametrize(
    "content",
    [
        b"MZ\x90\x00\x03\x00\x00\x00",  # a Windows program
        b"\x7fELF\x02\x01\x01",  # a Linux program
        b"PK\x03\x04 not really a zip",
        office("other"),  # a ZIP that is no workbook or document
        b"GIF89a\x01\x00",
        "caf\xe9".encode("latin-1"),  # not UTF-8
        b"text with a \x00 NUL",
    ],
)
def test_other_content_is_refused_in_plain_words(content):
    with pytest.raises(ValidationError) as refused:
        evidence.check(content, name="distribution-letter.pdf", max_bytes=MB)
    assert refused.value.messages == [
        "distribution-letter.pdf is not a file type the portal keeps as evidence (told by its content, not its "
        "name): upload a PDF, PNG, JPEG, CSV or plain text, XLSX or DOCX file."
    ]


def test_a_name_does_not_make_a_kind():
    assert evidence.kind_of(b"%PDF-1.4") == evidence.PDF
    with pytest.raises(ValidationError):
        evidence.check(b"MZ\x90\x00", name="scan.pdf", max_bytes=MB)


def test_too_big_and_empty_are_refused():
    with pytest.raises(ValidationError) as too_big:
        evidence.check(b"%PDF-" + b"x" * (2 * MB), name="big.pdf", max_bytes=2 * MB)
    assert too_big.value.messages == ["big.pdf is 2.0 MB; evidence files may be at most 2 MB."]
    assert evidence.check(b"%PDF-" + b"x" * (2 * MB - 5), name="exact.pdf", max_bytes=2 * MB) == evidence.PDF
    with pytest.raises(ValidationError) as empty:
        evidence.check(b"", name="empty.csv", max_bytes=MB)
    assert empty.value.messages == ["empty.csv is empty: choose the file again."]


@pytest.mark.parametrize(
    "content",
    [
        b"<!DOCTYPE html><html><body>AMA letter</body></html>",
        b"  <html><script>alert(1)</script></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        "\ufeff<!-- saved page -->\n<HTML><head></head></HTML>".encode(),
        b"identifier,name\nE1,<script>alert(1)</script>\n",
    ],
)
def test_html_and_svg_are_refused_though_they_are_text(content):
    with pytest.raises(ValidationError) as refused:
        evidence.check(content, name="letter.txt", max_bytes=MB)
    assert refused.value.messages == [
        "letter.txt is HTML, SVG or XML markup, which the portal does not keep as evidence (a browser would run what "
        "it contains): save it as PDF, or upload a PDF, PNG, JPEG, CSV or plain text, XLSX or DOCX file."
    ]


def test_text_that_merely_holds_angle_brackets_is_kept():
    content = b"identifier,name,note\nE1,Pat Lee <pat.lee@example.org>,a < b\n"
    assert evidence.check(content, name="roster.csv", max_bytes=MB) == evidence.TEXT
