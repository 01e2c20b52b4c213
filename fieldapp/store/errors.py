"""The store's refusals: each carries the worker's message in Chinese, the English one, and the field."""

from __future__ import annotations


class StoreError(ValueError):
    """A save or a read that cannot be done as asked; the message is for the worker (zh, then en)."""

    def __init__(self, zh: str, en: str, field: str | None = None) -> None:
        self.zh, self.en, self.field = zh, en, field
        super().__init__(f"{zh} ({en})")


class NotFound(StoreError):
    """No record of that kind has that id (a stale link, or a typo in a command)."""


class StaleEdit(StoreError):
    """The record changed since the form was opened: the edit would silently drop that change."""
