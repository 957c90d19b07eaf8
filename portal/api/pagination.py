"""Pages of the buyer API's lists, in two forms:

- page numbers (the default, as before): ``?page=2&page_size=100`` answers
  ``{"count", "next", "previous", "results"}``;
- cursors, when the request names one (``?cursor=`` empty for the first page): the list is read
  in its usual order made strict by the primary key as the last tie-breaker, and ``next`` /
  ``previous`` carry an opaque cursor holding the position of the page's last (or first) row.
  No count, and no row is skipped or repeated when rows are added or removed between pages,
  since a page starts after a position, not after a number of rows.

Both forms take ``page_size`` (at most ``max_page_size``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, OrderBy, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
CURSOR = "cursor"


class _ExactEncoder(DjangoJSONEncoder):
    """Times to the microsecond (Django's encoder keeps milliseconds: two rows of the same
    millisecond would be one position)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()
        return super().default(o)


@dataclass(frozen=True)
class _Key:
    """One column of a list's order: its lookup path, direction and whether it can be null."""

    path: str
    descending: bool
    field: models.Field[Any, Any]
    nullable: bool

    def expression(self, *, reverse: bool) -> OrderBy:
        # Nulls placed explicitly (last going up, first going down, PostgreSQL's own choice),
        # so a reversed order is exactly the order read backwards on every database.
        descending = self.descending != reverse
        if descending:
            return F(self.path).desc(nulls_first=True)
        return F(self.path).asc(nulls_last=True)

    def value(self, row: models.Model) -> Any:
        value: Any = row
        for part in self.path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def after(self, value: Any, *, reverse: bool) -> Q | None:
        """Rows strictly after ``value`` in this column's order (None: there are none)."""
        descending = self.descending != reverse
        if value is None:
            # Null is last going up, first going down.
            return Q(**{f"{self.path}__isnull": False}) if descending else None
        beyond = Q(**{f"{self.path}__{'lt' if descending else 'gt'}": value})
        if self.nullable and not descending:
            beyond |= Q(**{f"{self.path}__isnull": True})
        return beyond

    def equal(self, value: Any) -> Q:
        if value is None:
            return Q(**{f"{self.path}__isnull": True})
        return Q(**{self.path: value})


def _resolve(model: type[models.Model], path: str) -> tuple[str, models.Field[Any, Any], bool]:
    """The lookup path (a relation as its id column), its last field, and whether any step of
    it can be null."""
    parts = path.split("__")
    nullable = False
    current = model
    field: Any = None
    resolved: list[str] = []
    for index, part in enumerate(parts):
        name = current._meta.pk.name if part == "pk" else part
        field = current._meta.get_field(name)
        nullable = nullable or bool(getattr(field, "null", False))
        last = index == len(parts) - 1
        if field.is_relation and last and getattr(field, "attname", None):
            name = field.attname
            field = field.target_field
        elif field.is_relation:
            current = field.related_model
        resolved.append(name)
    return "__".join(resolved), field, nullable


def _ordering(queryset: QuerySet[Any]) -> list[tuple[str, bool]]:
    query = queryset.query
    raw: Sequence[Any] = query.order_by or (
        (queryset.model._meta.ordering or []) if query.default_ordering else []
    )
    ordering: list[tuple[str, bool]] = []
    for item in raw:
        if isinstance(item, str):
            ordering.append((item.lstrip("-"), item.startswith("-")))
        elif isinstance(item, OrderBy) and isinstance(item.expression, F):
            ordering.append((str(getattr(item.expression, "name", "")), item.descending))
        else:
            raise TypeError(f"cursor pages cannot follow the ordering {item!r}")
    return ordering


def _keys(queryset: QuerySet[Any]) -> list[_Key]:
    """The list's order as keys, ending with the primary key (unique): the order is strict."""
    model = queryset.model
    annotations = queryset.query.annotations
    keys: list[_Key] = []
    for path, descending in _ordering(queryset):
        if path in annotations:
            output = annotations[path].output_field
            keys.append(_Key(path, descending, output, nullable=True))
            continue
        resolved, field, nullable = _resolve(model, path)
        keys.append(_Key(resolved, descending, field, nullable))
    pk = model._meta.pk
    assert pk is not None
    if not any(key.path == pk.attname for key in keys):
        keys.append(_Key(pk.attname, keys[-1].descending if keys else False, pk, nullable=False))
    return keys


class KeysetPagination:
    """The cursor form (see the module): positions, not offsets."""

    page_size = PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def __init__(self) -> None:
        self.rows: list[Any] = []
        self.next_position: list[Any] | None = None
        self.previous_position: list[Any] | None = None
        self.request: Request | None = None

    def _invalid(self) -> ValidationError:
        return ValidationError(
            {
                CURSOR: [
                    _(
                        "This cursor is not valid. Use the “next” or “previous” link of a page "
                        "as it is, or send cursor= (empty) for the first page."
                    )
                ]
            }
        )

    def _decode(self, raw: str, keys: list[_Key]) -> tuple[list[Any], bool] | None:
        if not raw:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"=="))
            values, reverse = data["p"], bool(data.get("r"))
            if not isinstance(values, list) or len(values) != len(keys):
                raise self._invalid()
            if any(isinstance(value, str) and "\x00" in value for value in values):
                raise self._invalid()
            return [
                None if value is None else key.field.to_python(value)
                for key, value in zip(keys, values, strict=True)
            ], reverse
        except (
            ValueError,
            ArithmeticError,  # 1e999 for an integer key: OverflowError
            KeyError,
            TypeError,
            UnicodeError,
            binascii.Error,
            DjangoValidationError,
        ) as exc:
            raise self._invalid() from exc

    def _encode(self, position: list[Any], *, reverse: bool) -> str:
        text = json.dumps(
            {"p": position, "r": 1 if reverse else 0}, cls=_ExactEncoder, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(text.encode()).decode("ascii").rstrip("=")

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None, *, page_size: int
    ) -> list[Any]:
        self.request = request
        keys = _keys(queryset)
        decoded = self._decode(request.query_params.get(CURSOR, "").strip(), keys)
        position, reverse = decoded if decoded else (None, False)
        if position is not None:
            after = Q(pk__in=[])
            for index, key in enumerate(keys):
                beyond = key.after(position[index], reverse=reverse)
                if beyond is None:
                    continue
                same = Q()
                for earlier, value in zip(keys[:index], position[:index], strict=True):
                    same &= earlier.equal(value)
                after |= same & beyond
            queryset = queryset.filter(after)
        ordered = queryset.order_by(*(key.expression(reverse=reverse) for key in keys))
        rows = list(ordered[: page_size + 1])
        more = len(rows) > page_size
        rows = rows[:page_size]
        if reverse:
            rows.reverse()
        self.rows = rows

        def at(row: Any) -> list[Any]:
            return [key.value(row) for key in keys]

        forward_more, backward_more = (
            (position is not None, more)
            if reverse
            else (
                more,
                position is not None,
            )
        )
        self.next_position = at(rows[-1]) if rows and forward_more else None
        self.previous_position = at(rows[0]) if rows and backward_more else None
        if not rows and position is not None:
            # Past the end (or before the start): offer the way back.
            self.previous_position = None if reverse else position
            self.next_position = position if reverse else None
        return rows

    def _link(self, position: list[Any] | None, *, reverse: bool) -> str | None:
        if position is None or self.request is None:
            return None
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, "page")
        return replace_query_param(url, CURSOR, self._encode(position, reverse=reverse))

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "next": self._link(self.next_position, reverse=False),
                "previous": self._link(self.previous_position, reverse=True),
                "results": data,
            }
        )


class _PageNumbers(PageNumberPagination):
    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class ApiPagination(BasePagination):
    """Page numbers, or cursors when the request has ``cursor`` (see the module)."""

    page_size = PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def __init__(self) -> None:
        self._pages = _PageNumbers()
        self._cursor: KeysetPagination | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any] | Sequence[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        if CURSOR in request.query_params:
            if not isinstance(queryset, QuerySet):
                raise TypeError("cursor pages read a queryset")
            self._cursor = KeysetPagination()
            size = self._pages.get_page_size(request) or self.page_size
            return self._cursor.paginate_queryset(queryset, request, view, page_size=size)
        return self._pages.paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        if self._cursor is not None:
            return self._cursor.get_paginated_response(data)
        return self._pages.get_paginated_response(data)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "description": str(
                    gettext_lazy("A page number (page-number form); leave it out with cursor.")
                ),
                "schema": {"type": "integer"},
            },
            {
                "name": CURSOR,
                "required": False,
                "in": "query",
                "description": str(
                    gettext_lazy(
                        "Selects the cursor form: empty for the first page, then the value in "
                        "a page's next or previous link. Pages by position: rows added between "
                        "requests are neither skipped nor repeated. No count."
                    )
                ),
                "schema": {"type": "string"},
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "description": str(
                    gettext_lazy("Rows per page, at most %(max)s.") % {"max": MAX_PAGE_SIZE}
                ),
                "schema": {"type": "integer"},
            },
        ]

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "count": {
                    "type": "integer",
                    "example": 123,
                    "description": str(
                        gettext_lazy("How many rows in all (page-number form only).")
                    ),
                },
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "https://portal.example/api/v1/orders?cursor=eyJwIjpbXX0",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "example": "https://portal.example/api/v1/orders?page=1",
                },
                "results": schema,
            },
        }
