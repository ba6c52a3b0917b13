"""``@record``: the standard ``@dataclass`` without compiling generated source at import.

``dataclasses.dataclass`` writes ``__init__``, ``__repr__``, ``__eq__`` (and for a frozen class
``__setattr__``, ``__delattr__``, ``__hash__``) as source text and ``exec``-s each one, and asks
``inspect`` for a signature to make a docstring: 0.2-2 ms per class, every time a module is
imported, bytecode or not. A cold FOLLOWER hit defines about 70 of them. ``record`` builds the same
methods from closures over the field list instead and records real ``dataclasses.Field`` objects
in ``__dataclass_fields__``, so ``dataclasses.fields``, ``asdict``, ``astuple``, ``replace`` and
``is_dataclass`` work on its classes as on any dataclass; mypy reads it through
``typing.dataclass_transform``.

What it supports is what our classes use: ``frozen``, ``eq``, ``repr``, ``init``, fields with a
default, a ``default_factory``, ``init=False``, ``repr=False``, ``compare=False``, ``hash=``,
``metadata``, ``__post_init__`` and dataclass bases. Anything else (``order``, ``slots``,
``kw_only``, ``InitVar``, ``unsafe_hash``) raises ``TypeError``: use ``dataclasses.dataclass``
there. The generated ``__init__`` takes ``*args, **kwargs`` and binds them like the generated
one would (the same ``TypeError`` for a missing, repeated or unknown argument); it is slower per
call than the compiled one, so a class built thousands of times per run (``learning.text.Token``,
``learning.index.IndexEntry``) stays a ``dataclasses.dataclass``. A class without a docstring
keeps none (the stdlib makes one from the signature).
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, Field, FrozenInstanceError, field
from typing import Any, ClassVar, TypeVar, dataclass_transform, overload

__all__ = ["field", "record"]

_T = TypeVar("_T", bound=type)

# dataclasses.fields() keeps the fields whose _field_type is this marker (a real field, not a
# ClassVar or InitVar pseudo-field). It is not public; every version since 3.7 has it.
_FIELD_MARKER = dataclasses._FIELD  # type: ignore[attr-defined]  # noqa: SLF001


class _Params:
    """What ``__dataclass_params__`` holds (a dataclass subclass reads ``frozen``)."""

    __slots__ = ("eq", "frozen", "init", "match_args", "order", "repr", "slots", "unsafe_hash")

    def __init__(self, *, init: bool, repr: bool, eq: bool, frozen: bool) -> None:  # noqa: A002
        self.init, self.repr, self.eq, self.frozen = init, repr, eq, frozen
        self.order = self.unsafe_hash = self.slots = False
        self.match_args = True

    def __repr__(self) -> str:
        return (
            f"_Params(init={self.init}, repr={self.repr}, eq={self.eq}, order=False, "
            f"unsafe_hash=False, frozen={self.frozen})"
        )


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))
    return getattr(annotation, "__origin__", annotation) is ClassVar


def _own_fields(cls: type) -> list[Field[Any]]:
    out: list[Field[Any]] = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        if isinstance(annotation, str) and annotation.startswith(("InitVar", "KW_ONLY")):
            raise TypeError(f"{cls.__qualname__}.{name}: @record has no {annotation}")
        default = cls.__dict__.get(name, MISSING)
        if isinstance(default, Field):
            f = default
            if f.kw_only is True:
                raise TypeError(f"{cls.__qualname__}.{name}: @record has no kw_only")
        else:
            f = field(default=default)
        f.name = name
        f.type = annotation
        f._field_type = _FIELD_MARKER  # type: ignore[attr-defined]  # noqa: SLF001
        f.kw_only = False
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(
                f"mutable default {type(f.default)} for field {name} is not allowed: "
                "use default_factory"
            )
        # As dataclasses leaves it: the class attribute is the default, if there is one.
        if isinstance(default, Field):
            if f.default is MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        out.append(f)
    return out


def _make_init(cls: type, fields: list[Field[Any]], frozen: bool) -> Callable[..., None]:
    params = [f for f in fields if f.init]
    names = tuple(f.name for f in params)
    known = frozenset(names)
    seen_default = False
    for f in params:
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default
    # (name, default, factory, init) for every field, in order.
    slots = tuple((f.name, f.default, f.default_factory, f.init) for f in fields)
    post_init = getattr(cls, "__post_init__", None) is not None
    qualname = cls.__qualname__
    n = len(names)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > n:
            raise TypeError(
                f"{qualname}.__init__() takes {n + 1} positional arguments but "
                f"{len(args) + 1} were given"
            )
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in known:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {key!r}")
            values[key] = value
        d = self.__dict__
        missing = []
        for name, default, factory, init in slots:
            if not init:  # as in dataclasses: a plain default stays on the class only
                if factory is not MISSING:
                    d[name] = factory()
            elif name in values:
                d[name] = values[name]
            elif default is not MISSING:
                d[name] = default
            elif factory is not MISSING:
                d[name] = factory()
            else:
                missing.append(name)
        if missing:
            raise TypeError(
                f"{qualname}.__init__() missing {len(missing)} required positional "
                f"argument{'s' if len(missing) > 1 else ''}: " + ", ".join(repr(m) for m in missing)
            )
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = f"{qualname}.__init__"
    if not frozen:
        # A class whose own __setattr__ or descriptors must see the assignment: go through it.
        if cls.__setattr__ is not object.__setattr__ or any(
            hasattr(cls.__dict__.get(f.name), "__set__") for f in fields
        ):
            raise TypeError(f"{qualname}: @record assigns fields directly; use @dataclass")
    return __init__


def _base_fields(cls: type, frozen: bool) -> dict[str, Field[Any]]:
    """The fields of the dataclass bases, in the order dataclasses takes them."""
    out: dict[str, Field[Any]] = {}
    for base in cls.__mro__[-1:0:-1]:
        base_fields = base.__dict__.get("__dataclass_fields__")
        if base_fields is not None:
            if base.__dict__["__dataclass_params__"].frozen != frozen:
                raise TypeError(f"{cls.__qualname__}: frozen and non-frozen dataclasses mixed")
            out.update(
                (k, f)
                for k, f in base_fields.items()
                if f._field_type is _FIELD_MARKER  # noqa: SLF001
            )
    return out


def _process(cls: _T, *, init: bool, repr: bool, eq: bool, frozen: bool) -> _T:  # noqa: A002
    c: Any = cls  # the methods are set on it below, which the type checker cannot follow
    all_fields = _base_fields(cls, frozen)
    for f in _own_fields(cls):
        all_fields[f.name] = f
    fields = list(all_fields.values())
    attrs = cls.__dict__
    c.__dataclass_fields__ = all_fields
    c.__dataclass_params__ = _Params(init=init, repr=repr, eq=eq, frozen=frozen)
    qualname = cls.__qualname__

    if init and "__init__" not in attrs:
        c.__init__ = _make_init(cls, fields, frozen)

    if repr and "__repr__" not in attrs:
        shown = tuple(f.name for f in fields if f.repr)

        @reprlib.recursive_repr()
        def __repr__(self: Any) -> str:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{self.__class__.__qualname__}({inner})"

        __repr__.__qualname__ = f"{qualname}.__repr__"
        c.__repr__ = __repr__

    compared = tuple(f.name for f in fields if f.compare)
    if eq and "__eq__" not in attrs:

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is self.__class__:
                return tuple(getattr(self, n) for n in compared) == tuple(
                    getattr(other, n) for n in compared
                )
            return NotImplemented

        __eq__.__qualname__ = f"{qualname}.__eq__"
        c.__eq__ = __eq__

    if frozen:
        if "__setattr__" in attrs or "__delattr__" in attrs:
            raise TypeError(f"Cannot overwrite attribute __setattr__ in class {cls.__name__}")
        field_names = frozenset(all_fields)

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is c or name in field_names:
                raise FrozenInstanceError(f"cannot assign to field {name!r}")
            super(c, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is c or name in field_names:
                raise FrozenInstanceError(f"cannot delete field {name!r}")
            super(c, self).__delattr__(name)

        c.__setattr__ = __setattr__
        c.__delattr__ = __delattr__

    # The stdlib's table for unsafe_hash=False: eq without frozen makes instances unhashable,
    # eq and frozen hash the fields, an explicit __hash__ in the class body is kept.
    explicit_hash = attrs.get("__hash__", MISSING) not in (MISSING, None)
    if eq and not explicit_hash:
        if frozen:
            hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))

            def __hash__(self: Any) -> int:
                return hash(tuple(getattr(self, n) for n in hashed))

            __hash__.__qualname__ = f"{qualname}.__hash__"
            c.__hash__ = __hash__
        else:
            c.__hash__ = None

    if "__match_args__" not in attrs:
        type.__setattr__(c, "__match_args__", tuple(f.name for f in fields if f.init))
    return cls


@overload
def record(cls: _T, /) -> _T: ...
@overload
def record(
    *, init: bool = True, repr: bool = True, eq: bool = True, frozen: bool = False
) -> Callable[[_T], _T]: ...
@dataclass_transform(field_specifiers=(field, Field))
def record(
    cls: _T | None = None,
    /,
    *,
    init: bool = True,
    repr: bool = True,  # noqa: A002
    eq: bool = True,
    frozen: bool = False,
) -> _T | Callable[[_T], _T]:
    """``@dataclass`` / ``@dataclass(frozen=True, …)`` for the keywords in the module's docstring."""

    def wrap(c: _T) -> _T:
        return _process(c, init=init, repr=repr, eq=eq, frozen=frozen)

    return wrap if cls is None else wrap(cls)
