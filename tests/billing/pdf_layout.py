"""Where each character of a generated PDF is drawn, for tests that judge a layout (do the
amounts of a column end at the same x?). Text extraction loses positions, so this follows just
enough of the PDF text model for what WeasyPrint writes: the transformation matrix (``q``,
``Q``, ``cm``), the text matrix (``BT``, ``Tm``, ``Td``), ``Tf``, ``Tc``, ``Tz``, and ``TJ``/``Tj``
with Type0 (Identity-H, widths in ``/W``) or simple (``/Widths``) fonts decoded through their
``ToUnicode`` map. Coordinates are PDF points; a glyph spans its advance width (as pdfminer
measures it)."""

# mypy: disable-error-code="union-attr, index"

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pypdf import PdfReader
from pypdf.generic import ContentStream, DictionaryObject

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


@dataclass(frozen=True)
class Glyph:
    text: str
    x0: float
    x1: float
    y: float
    page: int


@dataclass(frozen=True)
class Span:
    """A run of glyphs on one line whose text matched a pattern."""

    text: str
    glyphs: tuple[Glyph, ...]

    @property
    def x0(self) -> float:
        return self.glyphs[0].x0

    @property
    def x1(self) -> float:
        return self.glyphs[-1].x1

    def x_of(self, char: str) -> float:
        """Where the first ``char`` of the span starts."""
        return next(g.x0 for g in self.glyphs if g.text == char)


def _multiply(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + b * c2,
        a * b2 + b * d2,
        c * a2 + d * c2,
        c * b2 + d * d2,
        e * a2 + f * c2 + e2,
        e * b2 + f * d2 + f2,
    )


def _point(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


def _hex_text(value: str) -> str:
    data = bytes.fromhex(value)
    return data.decode("utf-16-be", errors="replace")


class _Font:
    def __init__(self, font: DictionaryObject) -> None:
        self.two_bytes = font.get("/Subtype") == "/Type0"
        self.widths: dict[int, float] = {}
        self.default_width = 0.0
        if self.two_bytes:
            descendant = font["/DescendantFonts"][0].get_object()
            self.default_width = float(descendant.get("/DW", 1000))
            w = list(descendant.get("/W", []))
            i = 0
            while i < len(w):
                first = int(w[i])
                if isinstance(w[i + 1], list):
                    for offset, width in enumerate(w[i + 1]):
                        self.widths[first + offset] = float(width)
                    i += 2
                else:
                    for code in range(first, int(w[i + 1]) + 1):
                        self.widths[code] = float(w[i + 2])
                    i += 3
        else:
            first = int(font.get("/FirstChar", 0))
            for offset, width in enumerate(font.get("/Widths", [])):
                self.widths[first + offset] = float(width)
        self.unicode: dict[int, str] = {}
        if "/ToUnicode" in font:
            self._read_cmap(font["/ToUnicode"].get_object().get_data().decode("latin-1"))

    def _read_cmap(self, cmap: str) -> None:
        for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
            for source, target in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]*)>", block):
                self.unicode[int(source, 16)] = _hex_text(target)
        for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
            for low, high, target in re.findall(
                r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>\s*(<[0-9a-fA-F]*>|\[[^\]]*\])", block
            ):
                codes = range(int(low, 16), int(high, 16) + 1)
                if target.startswith("["):
                    targets = re.findall(r"<([0-9a-fA-F]*)>", target)
                    for code, each in zip(codes, targets, strict=False):
                        self.unicode[code] = _hex_text(each)
                else:
                    start = int(target[1:-1], 16)
                    for offset, code in enumerate(codes):
                        self.unicode[code] = chr(start + offset)

    def codes(self, data: bytes) -> Iterator[int]:
        if self.two_bytes:
            for i in range(0, len(data) - 1, 2):
                yield data[i] << 8 | data[i + 1]
        else:
            yield from data


def _raw(value: Any) -> bytes:
    if hasattr(value, "original_bytes"):  # pypdf's string objects, as written in the stream
        return bytes(value.original_bytes)
    if isinstance(value, bytes):
        return value
    return str(value).encode("latin-1")


def _page_glyphs(reader: PdfReader, number: int) -> list[Glyph]:
    page = reader.pages[number]
    resources = page.get("/Resources") or {}
    fonts_dict = resources.get("/Font") or {}
    fonts = {name: _Font(ref.get_object()) for name, ref in fonts_dict.items()}
    glyphs: list[Glyph] = []
    ctm, stack = IDENTITY, []
    tm = tlm = IDENTITY
    font: _Font | None = None
    size = spacing = 0.0
    scale = 1.0
    content = page.get_contents()
    if content is None:
        return glyphs
    for operands, operator in ContentStream(content, reader).operations:
        op = operator.decode()
        if op == "q":
            stack.append((ctm, font, size, spacing, scale))
        elif op == "Q":
            ctm, font, size, spacing, scale = stack.pop()
        elif op == "cm":
            ctm = _multiply(tuple(float(v) for v in operands), ctm)  # type: ignore[arg-type]
        elif op == "BT":
            tm = tlm = IDENTITY
        elif op == "Tm":
            tm = tlm = tuple(float(v) for v in operands)  # type: ignore[assignment]
        elif op in ("Td", "TD"):
            tx, ty = (float(v) for v in operands)
            tm = tlm = _multiply((1, 0, 0, 1, tx, ty), tlm)
        elif op == "Tf":
            font, size = fonts[operands[0]], float(operands[1])
        elif op == "Tc":
            spacing = float(operands[0])
        elif op == "Tz":
            scale = float(operands[0]) / 100
        elif op in ("TJ", "Tj") and font is not None:
            items = operands[0] if op == "TJ" else [operands[0]]
            for item in items:
                if isinstance(item, (int, float)):  # pypdf's NumberObject and FloatObject
                    tm = _multiply((1, 0, 0, 1, -float(item) / 1000 * size * scale, 0), tm)
                    continue
                for code in font.codes(_raw(item)):
                    width = font.widths.get(code, font.default_width) / 1000 * size * scale
                    full = _multiply(tm, ctm)
                    x0, y = _point(full, 0, 0)
                    x1, _y = _point(full, width, 0)
                    glyphs.append(
                        Glyph(font.unicode.get(code, "\ufffd"), min(x0, x1), max(x0, x1), y, number)
                    )
                    tm = _multiply((1, 0, 0, 1, width + spacing * scale, 0), tm)
    return glyphs


def pdf_lines(pdf: bytes) -> list[list[Glyph]]:
    """Every line of text (glyphs on the same baseline of a page), top to bottom, each left to
    right."""
    reader = PdfReader(io.BytesIO(pdf))
    lines: list[list[Glyph]] = []
    for number in range(len(reader.pages)):
        by_baseline: dict[float, list[Glyph]] = {}
        for glyph in _page_glyphs(reader, number):
            by_baseline.setdefault(round(glyph.y, 1), []).append(glyph)
        for y in sorted(by_baseline, reverse=True):
            lines.append(sorted(by_baseline[y], key=lambda g: g.x0))
    return lines


def line_text(line: list[Glyph]) -> str:
    return "".join(g.text for g in line)


def spans(line: list[Glyph], pattern: str) -> list[Span]:
    """The runs of the line whose text matches ``pattern``, with their glyphs (a glyph standing
    for several characters, a ligature, belongs to each of them)."""
    owner = [i for i, glyph in enumerate(line) for _char in glyph.text]
    text = "".join(g.text for g in line)
    return [
        Span(
            match.group(),
            tuple(line[i] for i in dict.fromkeys(owner[match.start() : match.end()])),
        )
        for match in re.finditer(pattern, text)
    ]


def columns(values: list[float], *, gap: float = 20.0) -> list[list[float]]:
    """Right edges grouped into columns: sorted, a new column wherever two neighbours are more
    than ``gap`` points apart (columns are centimetres apart; a misaligned row is off by a few
    points)."""
    groups: list[list[float]] = []
    for value in sorted(values):
        if groups and value - groups[-1][-1] <= gap:
            groups[-1].append(value)
        else:
            groups.append([value])
    return groups
