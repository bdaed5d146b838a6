"""Cutting text to a platform's limit: the transports' name for `handlers.clipping`."""

from handlers.clipping import ELLIPSIS, clip, within

__all__ = ["ELLIPSIS", "clip", "within"]
