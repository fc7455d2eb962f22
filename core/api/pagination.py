"""Page-number pagination whose parameters are checked like any other input."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from core.params import parse_id


class DefaultPagination(PageNumberPagination):
    """Page-number pagination; clients may ask for up to 500 rows a page.

    `page` and `page_size` must be whole numbers from 1 (`page_size` up to 500): anything else is a 400
    naming the parameter, where DRF would quietly use the default size or answer 404 for a page like
    "-1.5". A page past the last one is still a 404.
    """

    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        page = request.query_params.get(self.page_query_param)
        if page is not None and page not in self.last_page_strings and parse_id(page) is None:
            raise ValidationError(
                {self.page_query_param: [_("page must be a whole number from 1, or “last”.")]}
            )
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        size = request.query_params.get(self.page_size_query_param)
        if size is None:
            return self.page_size
        number = parse_id(size)
        if number is None or number > self.max_page_size:
            message = _("page_size must be a whole number from 1 to %(most)d.") % {"most": self.max_page_size}
            raise ValidationError({self.page_size_query_param: [message]})
        return number
