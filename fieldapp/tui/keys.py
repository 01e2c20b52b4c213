"""Key bindings are declared with a word key as description and shown in the UI language."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Self, TypeVar

from textual.binding import Binding, BindingType

from fieldapp import i18n
from fieldapp.i18n import WORDS, t

T = TypeVar("T")

_TWINS: dict[tuple[type, str], type[Any]] = {}


def _translated(cls: type) -> list[Binding]:
    """Every binding `cls` declares or inherits whose description is a word key, in the UI
    language (one per key; a subclass's binding wins, as in Textual's own merge)."""
    by_key: dict[str, Binding] = {}
    for base in reversed(cls.__mro__):
        declared: list[BindingType] = base.__dict__.get("BINDINGS", [])
        for b in Binding.make_bindings(declared):
            if b.description in WORDS:
                by_key[b.key] = replace(b, description=t(b.description))
    return list(by_key.values())


def in_ui_language(cls: type[T]) -> type[T]:
    """`cls`'s twin for the UI language: a subclass whose `BINDINGS` carry the translated words.

    Textual reads a key's description from the `Binding` objects merged when a class is created,
    and the language is chosen at start-up (`--lang`), after the classes exist; so each language
    gets its own subclass, made once. Same name and module, so CSS selectors and `CSS_PATH` hold."""
    lang = i18n.lang()
    origin: type = cls.__dict__.get("_ui_origin", cls)
    key = (origin, lang)
    if key not in _TWINS:
        namespace: dict[str, Any] = {
            "BINDINGS": _translated(origin),
            "_ui_origin": origin,
            "__module__": origin.__module__,
            "__qualname__": origin.__qualname__,
            "__doc__": origin.__doc__,
        }
        _TWINS[key] = type(origin)(origin.__name__, (origin,), namespace)
    return _TWINS[key]


class Translated:
    """Mixin for a screen, dialog, widget or app whose key descriptions are word keys: an instance
    is made from the class's twin for the UI language (`in_ui_language`)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        return super().__new__(in_ui_language(cls))
