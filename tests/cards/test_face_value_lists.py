"""A product's face values are read the same way in the admin's product form and in the product
import: commas, full-width and ideographic commas, semicolons, bars and line breaks all separate
values (the import used to accept bars the form refused)."""

from __future__ import annotations

import pytest

from cards.admin.catalog import CardProductForm
from cards.admin.import_ import FaceValuesWidget

WRITTEN = [
    ("100, 200, 500", ["100", "200", "500"]),
    ("100\uff0c200\u3001500", ["100", "200", "500"]),  # full-width and ideographic commas
    ("100; 200\uff1b500", ["100", "200", "500"]),
    ("100 | 200 |500", ["100", "200", "500"]),
    ("100\r\n200\n\n500", ["100", "200", "500"]),
    (" , 100,, ", ["100"]),
]


@pytest.mark.parametrize(("text", "values"), WRITTEN)
def test_the_form_and_the_import_read_the_same_values(text: str, values: list[str]) -> None:
    form = CardProductForm()
    form.cleaned_data = {"face_values": text}
    assert form.clean_face_values() == values
    assert FaceValuesWidget().clean(text) == values
