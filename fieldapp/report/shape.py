"""Whether a value read back from storage has the shape its type annotation says (report_cache).

The kept report is JSON in the database; a file handed over from elsewhere, or a damaged row,
could hold anything there, and the printing would then fail on it. pydantic checks this better,
but importing its validators costs ~0.17 s, more than a third of reading the kept report: this
walks the few kinds of type the report uses (numbers, text, dates, None, lists, tuples, dicts,
dataclasses, TypedDicts and unions) with one checker per annotation, made once."""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from datetime import date
from typing import Any, Union, get_args, get_origin, get_type_hints, is_typeddict

Check = Callable[[Any], bool]


def fits(value: Any, kind: Any) -> bool:
    """`value` has the shape of the annotation `kind` (a bool is not a number here)."""
    return _checker(kind)(value)


def _scalar(kind: Any) -> Check | None:
    if kind is Any:
        return lambda v: True
    if kind is type(None) or kind is None:
        return lambda v: v is None
    if kind is float:
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if kind in (int, str, date):
        return lambda v: isinstance(v, kind) and not isinstance(v, bool)
    return None


@functools.cache
def _checker(kind: Any) -> Check:
    scalar = _scalar(kind)
    if scalar is not None:
        return scalar
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, types.UnionType):
        alts = [_checker(a) for a in args]
        return lambda v: any(c(v) for c in alts)
    if origin is list:
        item = _checker(args[0])
        return lambda v: isinstance(v, list) and all(item(x) for x in v)
    if origin is tuple:
        parts = [_checker(a) for a in args]
        return lambda v: (
            isinstance(v, tuple)
            and len(v) == len(parts)
            and all(c(x) for c, x in zip(parts, v, strict=True))
        )
    if origin is dict:
        key, val = _checker(args[0]), _checker(args[1])
        return lambda v: isinstance(v, dict) and all(key(k) and val(x) for k, x in v.items())
    return _record(kind)


def _record(kind: Any) -> Check:
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = get_type_hints(kind)
        fields = [(f.name, _checker(hints[f.name])) for f in dataclasses.fields(kind)]
        return lambda v: isinstance(v, kind) and all(c(getattr(v, n)) for n, c in fields)
    if is_typeddict(kind):
        checks = {k: _checker(t) for k, t in get_type_hints(kind).items()}
        return lambda v: (
            isinstance(v, dict) and v.keys() == checks.keys() and all(checks[k](v[k]) for k in v)
        )
    return lambda v: False  # a type this module does not know: never taken for a fit
