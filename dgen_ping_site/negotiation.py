"""Content negotiation that says what went wrong: DRF answers an unknown `?format=` with a
404 whose message is empty."""

from rest_framework.exceptions import NotFound
from rest_framework.negotiation import DefaultContentNegotiation


class ExplainedNegotiation(DefaultContentNegotiation):
    def filter_renderers(self, renderers, format):
        chosen = [renderer for renderer in renderers if renderer.format == format]
        if not chosen:
            known = ", ".join(sorted({renderer.format for renderer in renderers}))
            raise NotFound(
                f"Unknown format {format!r}: use one of {known}, or leave ?format= out.",
                code="unknown_format",
            )
        return chosen
