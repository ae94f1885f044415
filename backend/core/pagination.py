from rest_framework.pagination import CursorPagination, PageNumberPagination


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class KeysetCursorPagination(CursorPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class PageOrCursorPagination(DefaultPagination):
    """Pages by number (`page`, with the `count` of all rows), or, when the request carries `cursor` (empty for
    the first page), by keyset: each page continues from the last row of the one before (`next` holds the
    cursor), so a deep page costs what the first one does and nothing counts the rows (no `count`).

    `orderings` maps what the request may order by to the keyset's fields; the first field must be indexed and
    never null (a cursor keeps its position in it; rows tied on it are told apart by an offset)."""

    cursor_query_param = "cursor"

    def __init__(self, *, orderings: dict[str, tuple[str, ...]] | None = None, default: str = "-id"):
        self.orderings = orderings or {"-id": ("-id",), "id": ("id",)}
        self.default = default
        self._cursor: KeysetCursorPagination | None = None

    def wants_cursor(self, request) -> bool:
        return self.cursor_query_param in request.query_params

    def paginate_queryset(self, queryset, request, view=None):
        if not self.wants_cursor(request):
            return super().paginate_queryset(queryset, request, view)
        self._cursor = KeysetCursorPagination()
        self._cursor.ordering = self.orderings[self.cursor_ordering(request)]
        return self._cursor.paginate_queryset(queryset, request, view)

    def cursor_ordering(self, request) -> str:
        return request.query_params.get("ordering") or self.default

    def get_paginated_response(self, data):
        if self._cursor is not None:
            return self._cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema):
        page = super().get_paginated_response_schema(schema)
        page["required"] = ["results"]
        page["properties"]["count"]["description"] = "All matching rows (page-number pagination only)."
        return page

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), {
            "name": self.cursor_query_param, "required": False, "in": "query", "schema": {"type": "string"},
            "description": "Keyset pagination: empty for the first page, then the `cursor` of `next`/`previous`. "
                           "The answer has no `count`."}]
