"""The CPT license application as a PDF/A-3b document, and a streamed ZIP of many of them.

`render_application` turns a filing snapshot (licensing.filings.snapshot) into PDF bytes with
WeasyPrint: the Django template templates/licensing/pdf/application.html and the print
stylesheet static/licensing/pdf/application.css. WeasyPrint may read nothing but the files
under static/licensing/pdf/; any other URL (other files, http, https, data) is refused and
stops the rendering. WeasyPrint is imported on first use: the import costs about a second
that Django start-up should not pay.
"""

import contextlib
import datetime
import functools
import hashlib
import json
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.cache import cache
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation

TEMPLATE = "licensing/pdf/application.html"
STATIC_DIR = Path(settings.BASE_DIR) / "static"
ASSETS_DIR = STATIC_DIR / "licensing" / "pdf"
# A file URL on a host no machine has: only the asset fetcher resolves it, into STATIC_DIR.
ASSETS_HOST = "cpt-pdf-assets"
BASE_URL = f"file://{ASSETS_HOST}/licensing/pdf/"
PDF_VARIANT = "pdf/a-3b"
# How long a draft's rendering is kept for the next preview of the same data (a day: drafts change daily at most).
DRAFT_CACHE_SECONDS = 24 * 3600
CONTENT_TYPES = {
    ".css": "text/css",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

_lock = threading.Lock()
_font_config = None
_fetcher_class = None


class AssetRefused(ValueError):
    """A URL the PDF may not read: anything but a file under static/licensing/pdf/."""


class RenderError(RuntimeError):
    """The PDF was not rendered: a resource the HTML names was refused or is missing."""


def asset_path(url: str) -> Path:
    """The file an asset URL names, or AssetRefused unless it is a file under static/licensing/pdf/."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc.lower() != ASSETS_HOST:
        raise AssetRefused(f"The PDF may only read its own static files, not {url[:200]}")
    path = (STATIC_DIR / unquote(parts.path).lstrip("/")).resolve()
    # resolve() has followed symlinks and "..", so this checks where the file really is.
    if not path.is_relative_to(ASSETS_DIR.resolve()) or not path.is_file():
        raise AssetRefused(f"Not a file under static/licensing/pdf/: {url[:200]}")
    return path


def _weasyprint():
    # Imported here rather than at the top: the import costs about a second.
    import weasyprint
    import weasyprint.text.fonts

    return weasyprint


def asset_fetcher():
    """A new restricted URL fetcher for one rendering; it records URLs, so it is never shared."""
    global _fetcher_class
    if _fetcher_class is None:
        _weasyprint()
        from weasyprint.urls import URLFetcher, URLFetcherResponse

        class AssetFetcher(URLFetcher):
            """Serves files under static/licensing/pdf/ only; `requested` lists every URL asked for."""

            def __init__(self):
                # fail_on_errors: a refused or missing asset stops the rendering rather than leaving a gap.
                super().__init__(timeout=5, allow_redirects=False, fail_on_errors=True)
                self.requested: list[str] = []

            def fetch(self, url, headers=None):
                self.requested.append(url)
                path = asset_path(url)
                content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
                return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": content_type})

        _fetcher_class = AssetFetcher
    return _fetcher_class()


def font_config():
    """The FontConfiguration all renderings share, so fontconfig is set up once per process."""
    global _font_config
    with _lock:
        if _font_config is None:
            _font_config = _weasyprint().text.fonts.FontConfiguration()
        return _font_config


@contextlib.contextmanager
def _refusals_as_errors():
    from weasyprint.urls import FatalURLFetchingError

    try:
        yield
    except FatalURLFetchingError as error:
        # FatalURLFetchingError derives from BaseException; callers get an ordinary exception instead.
        raise RenderError(f"{error}: {error.__cause__}") from error.__cause__


def layout(html: str, *, fetcher=None):
    """The laid-out weasyprint.Document of an HTML string whose relative URLs point into static/licensing/pdf/."""
    weasyprint = _weasyprint()
    with _refusals_as_errors():
        document = weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher or asset_fetcher())
        return document.render(font_config=font_config(), pdf_variant=PDF_VARIANT)


def html_to_pdf(html: str, *, identifier: bytes | None = None, fetcher=None) -> bytes:
    """PDF/A-3b bytes of an HTML string; `identifier` is the PDF's permanent ID (random when None)."""
    document = layout(html, fetcher=fetcher)
    with _refusals_as_errors():
        return document.write_pdf(
            pdf_variant=PDF_VARIANT,
            # One document keeps its first ID across renderings; the second ID is a hash of the bytes.
            pdf_identifier=identifier or True,
        )


def _generated_at(value) -> tuple[str, str]:
    """The snapshot's generation time as shown on the cover, and as the PDF creation date (whole seconds)."""
    try:
        moment = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value or ""), ""
    if moment.tzinfo is None:
        return f"{moment:%Y-%m-%d %H:%M}", moment.replace(microsecond=0).isoformat()
    moment = moment.astimezone(datetime.UTC).replace(microsecond=0)
    return f"{moment:%Y-%m-%d %H:%M} UTC", moment.isoformat().replace("+00:00", "Z")


def render_html(snapshot: dict, *, draft: bool) -> str:
    """The application as HTML: the snapshot's keys plus `draft`, `generated_at_display` and `created`."""
    display, created = _generated_at(snapshot.get("generated_at"))
    context = {**snapshot, "draft": draft, "generated_at_display": display, "created": created}
    # Grouping with commas whatever the active language: the AMA reads US figures.
    with translation.override("en-us"):
        return render_to_string(TEMPLATE, context)


def render_application(snapshot: dict, *, draft: bool) -> bytes:
    """The application PDF of a filing snapshot; `draft` adds the DRAFT watermark and banner.

    The same snapshot gives the same bytes (creation date and ID come from the snapshot), as long
    as the template, the stylesheet, the fonts and WeasyPrint stay the same.
    """
    html = render_html(snapshot, draft=draft)
    return html_to_pdf(html, identifier=str(snapshot.get("document_id") or "").encode() or None)


@functools.cache
def _renderer_version() -> str:
    """What else decides a PDF's bytes besides its data: the template, the stylesheet and fonts, WeasyPrint."""
    digest = hashlib.sha256(_weasyprint().__version__.encode())
    files = [
        Path(get_template(TEMPLATE).origin.name),
        *sorted(path for path in ASSETS_DIR.rglob("*") if path.is_file()),
    ]
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def render_draft(snapshot: dict) -> bytes:
    """A draft's PDF, rendered once per state of its data: a preview of unchanged data is the PDF made last time.

    The key is the snapshot without its generation time, plus the renderer's version; the cover then shows when
    that rendering was made. A WeasyPrint rendering costs about 0.25 s of CPU, a preview from the cache a few ms.
    """
    data = {key: value for key, value in snapshot.items() if key != "generated_at"}
    canonical = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    key = "draft-pdf:" + hashlib.sha256(f"{_renderer_version()}:{canonical}".encode()).hexdigest()
    cached = cache.get(key)
    if isinstance(cached, bytes):
        return cached
    rendered = render_application(snapshot, draft=True)
    cache.set(key, rendered, DRAFT_CACHE_SECONDS)
    return rendered


class _ChunkSink:
    """A write-only, unseekable file for zipfile; what it receives is taken out in chunks."""

    def __init__(self):
        self._chunks: list[bytes] = []

    def write(self, data) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """zipfile flushes as a courtesy; everything written is already held in _chunks."""

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _member_name(name: str, used: set[str]) -> str:
    """One level, no leading dots, unique in the archive: "x.pdf", then "x (2).pdf"."""
    name = name.replace("\\", "_").replace("/", "_").lstrip(".") or "document.pdf"
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    candidate, number = name, 2
    while candidate in used:
        candidate = f"{stem} ({number}){dot}{suffix}"
        number += 1
    used.add(candidate)
    return candidate


def stream_zip(items: Iterable[tuple[str, bytes | Callable[[], bytes]]]) -> Iterator[bytes]:
    """A ZIP of PDFs as chunks, one file at a time, so memory holds one PDF and never the archive.

    Each item is (file name, PDF bytes) or (file name, a callable returning PDF bytes); a
    callable is called only when its file's turn comes, so PDFs are rendered one at a time.
    Names are flattened to one level and made unique, so no member overwrites another.
    """
    sink = _ChunkSink()
    used: set[str] = set()
    # ZIP members carry local wall-clock times (the format has no time zone).
    now = timezone.localtime().timetuple()[:6]
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in items:
            member = zipfile.ZipInfo(_member_name(name, used), date_time=now)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            archive.writestr(member, content() if callable(content) else content)
            yield sink.take()
    # Closing the archive has written the central directory.
    yield sink.take()
