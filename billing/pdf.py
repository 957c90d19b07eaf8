"""PDF documents (invoices, statements) rendered from HTML templates with WeasyPrint.

Rendering never touches the network: the fetcher serves ``data:`` URLs and files under the
static folders, and refuses everything else (a remote image in a template, or a URL smuggled in
through data, fails to load instead of making the server call out).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse


def static_roots() -> list[Path]:
    roots = [Path(folder) for folder in settings.STATICFILES_DIRS]
    if settings.STATIC_ROOT:
        roots.append(Path(settings.STATIC_ROOT))
    return [root.resolve() for root in roots]


class LocalOnlyFetcher(URLFetcher):
    """Fetches ``data:`` URLs and ``file:`` URLs inside the allowed folders; nothing else."""

    def __init__(self, roots: list[Path]) -> None:
        super().__init__(allowed_protocols={"file", "data"}, allow_redirects=False)
        self._roots = roots

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower()
        if scheme == "file":
            path = Path(unquote(urlsplit(url).path)).resolve()
            if not any(path.is_relative_to(root) for root in self._roots):
                raise ValueError(f"PDF rendering may not read {url}")
        elif scheme != "data":
            raise ValueError(f"PDF rendering may not fetch {url}")
        response: URLFetcherResponse = super().fetch(url, headers)
        return response


def page_counter_css() -> SafeString:
    """A CSS ``content`` value reading "Page 1 of 3" in the active language, for ``@page``
    margin boxes: ``{{ pdf_page_counter }}`` in a print template."""
    label = gettext("Page %(page)s of %(pages)s")
    quoted = label.replace("\\", "\\\\").replace('"', '\\"').replace("<", "").replace("\n", " ")
    content = quoted % {"page": '" counter(page) "', "pages": '" counter(pages) "'}
    return mark_safe(f'"{content}"')  # noqa: S308 - our own translation, quotes escaped


class _Reused(threading.local):
    """Per thread (neither is meant to be shared between threads), what every render would
    otherwise make again: WeasyPrint's font configuration (Fontconfig loading the system fonts,
    Pango's font map and its caches) and the fetcher (its HTTPS handler loads the system's CA
    certificates, about 45 ms, although it never fetches over the network). Templates declare no
    ``@font-face``, so the font configuration carries nothing from one document to the next."""

    font_config: FontConfiguration | None = None
    fetchers: dict[tuple[Path, ...], LocalOnlyFetcher]

    def __init__(self) -> None:
        self.fetchers = {}


_reused = _Reused()


def _font_config() -> FontConfiguration:
    if _reused.font_config is None:
        _reused.font_config = FontConfiguration()
    return _reused.font_config


def _fetcher(roots: list[Path]) -> LocalOnlyFetcher:
    key = tuple(roots)
    fetcher = _reused.fetchers.get(key)
    if fetcher is None:
        fetcher = _reused.fetchers[key] = LocalOnlyFetcher(roots)
    return fetcher


def render_pdf(template: str, context: dict[str, Any]) -> bytes:
    """The template rendered to a PDF. Paper size and fonts come from the template's print CSS;
    the context gains ``pdf_page_counter`` for its page numbers."""
    html = render_to_string(template, {"pdf_page_counter": page_counter_css(), **context})
    roots = static_roots()
    document = HTML(string=html, base_url=roots[0].as_uri() + "/", url_fetcher=_fetcher(roots))
    pdf: bytes = document.write_pdf(font_config=_font_config())
    return pdf
