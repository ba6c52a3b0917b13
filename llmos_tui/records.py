"""``@record``: the standard ``@dataclass`` without compiling generated source at import.

``dataclasses.dataclass`` writes ``__init__``, ``__repr__``, ``__eq__`` (and for a frozen class
``__setattr__``, ``__delattr__``, ``__hash__``) as source text and ``exec``-s each one, and asks
``inspect`` for a signature to make a docstring: 0.2-2 ms per class, every time a module is
imported, bytecode or not. A cold FOLLOWER hit defines about 70 of them. ``record`` builds the same
methods from closures over the field list instead and records real ``dataclasses.Field`` objects
in ``__dataclass_fields__``, so ``dataclasses.fields``, ``asdict``, ``astuple``, ``replace`` and
``is_dataclass`` work on its classes as on any dataclass; mypy reads it through
``typing.dataclass_transform``.

What it supports is what our classes use: ``frozen``, ``eq``, ``repr``, ``init``, ``slots``,
fields with a default, a ``default_factory``, ``init=False``, ``repr=False``, ``compare=False``,
``hash=``, ``metadata``, ``__post_init__`` and dataclass bases. Anything else (``order``,
``kw_only``, ``InitVar``, ``unsafe_hash``) raises ``TypeError``: use ``dataclasses.dataclass``
there. The generated ``__init__`` takes ``*args, **kwargs`` and binds them like the generated
one would (the same ``TypeError`` for a missing, repeated or unknown argument); it is slower per
call than the compiled one, so a class built thousands of times per run (``learning.text.Token``,
``learning.index.IndexEntry``, the policy's ``Program``) asks for ``fast_init=True``: its
``__init__`` is compiled from source as the stdlib's is, and only that method. A class without a
docstring keeps none (the stdlib makes one from the signature).
"""

from __future__ import annotations

import reprlib
import sys
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, dataclass_transform, overload

__all__ = ["MISSING", "Field", "asdict", "field", "fields", "is_dataclass", "record", "replace"]

_T = TypeVar("_T", bound=type)
_V = TypeVar("_V")
_R = TypeVar("_R")


class _MissingType:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


#: No default (``dataclasses.MISSING`` in the ``dataclasses.Field`` objects made from ours).
MISSING: Any = _MissingType()
_EMPTY: MappingProxyType[Any, Any] = MappingProxyType({})
_HAS_FACTORY: Any = _MissingType()  # the default of a parameter whose field has a factory


class Field:
    """One field, with the attributes of ``dataclasses.Field`` that callers read."""

    __slots__ = (
        "compare",
        "default",
        "default_factory",
        "hash",
        "init",
        "kw_only",
        "metadata",
        "name",
        "repr",
        "type",
    )

    def __init__(
        self,
        default: Any,
        default_factory: Any,
        init: bool,
        repr: bool,  # noqa: A002
        hash: bool | None,  # noqa: A002
        compare: bool,
        metadata: Any,
    ) -> None:
        self.name: str = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init, self.repr, self.hash, self.compare = init, repr, hash, compare
        self.metadata = _EMPTY if not metadata else MappingProxyType(metadata)
        self.kw_only = False

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, type={self.type!r}, default={self.default!r})"


@overload
def field(
    *,
    default: _V,
    init: bool = ...,
    repr: bool = ...,  # noqa: A002
    hash: bool | None = ...,  # noqa: A002
    compare: bool = ...,
    metadata: Any = ...,
) -> _V: ...
@overload
def field(
    *,
    default_factory: Callable[[], _V],
    init: bool = ...,
    repr: bool = ...,  # noqa: A002
    hash: bool | None = ...,  # noqa: A002
    compare: bool = ...,
    metadata: Any = ...,
) -> _V: ...
@overload
def field(
    *,
    init: bool = ...,
    repr: bool = ...,  # noqa: A002
    hash: bool | None = ...,  # noqa: A002
    compare: bool = ...,
    metadata: Any = ...,
) -> Any: ...
def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    init: bool = True,
    repr: bool = True,  # noqa: A002
    hash: bool | None = None,  # noqa: A002
    compare: bool = True,
    metadata: Any = None,
) -> Any:
    """``dataclasses.field`` for ``@record`` classes."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, hash, compare, metadata)


class _Params:
    """What ``__dataclass_params__`` holds (a dataclass subclass reads ``frozen``)."""

    __slots__ = ("eq", "frozen", "init", "match_args", "order", "repr", "slots", "unsafe_hash")

    def __init__(self, *, init: bool, repr: bool, eq: bool, frozen: bool, slots: bool) -> None:  # noqa: A002
        self.init, self.repr, self.eq, self.frozen, self.slots = init, repr, eq, frozen, slots
        self.order = self.unsafe_hash = False
        self.match_args = True

    def __repr__(self) -> str:
        return (
            f"_Params(init={self.init}, repr={self.repr}, eq={self.eq}, order=False, "
            f"unsafe_hash=False, frozen={self.frozen})"
        )


class _StdFields:
    """A record class's ``__dataclass_fields__``: ``dataclasses.Field`` objects, made (and
    ``dataclasses`` imported) the first time the standard functions ask for them."""

    def __init__(self, fields: dict[str, Field]) -> None:
        self.fields = fields
        self.std: dict[str, Any] | None = None

    def __get__(self, obj: object, owner: type | None = None) -> dict[str, Any]:
        if self.std is None:
            import dataclasses

            out = {}
            for f in self.fields.values():
                std: Any = dataclasses.field(
                    default=dataclasses.MISSING if f.default is MISSING else f.default,
                    default_factory=(
                        dataclasses.MISSING if f.default_factory is MISSING else f.default_factory
                    ),
                    init=f.init,
                    repr=f.repr,
                    hash=f.hash,
                    compare=f.compare,
                    metadata=f.metadata,
                    kw_only=False,
                )
                std.name, std.type = f.name, f.type
                std._field_type = dataclasses._FIELD  # type: ignore[attr-defined]  # noqa: SLF001
                out[f.name] = std
            self.std = out
        return self.std


def _frozen_error(message: str) -> AttributeError:
    """``dataclasses.FrozenInstanceError`` (imported only when one is raised)."""
    from dataclasses import FrozenInstanceError

    return FrozenInstanceError(message)


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar", "t.ClassVar"))
    return getattr(annotation, "__origin__", annotation) is ClassVar


def _own_fields(cls: type) -> list[Field]:
    out: list[Field] = []
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        if isinstance(annotation, str) and annotation.startswith(("InitVar", "KW_ONLY")):
            raise TypeError(f"{cls.__qualname__}.{name}: @record has no {annotation}")
        default = cls.__dict__.get(name, MISSING)
        if type(default).__name__ == "Field" and not isinstance(default, Field):
            raise TypeError(f"{cls.__qualname__}.{name}: use records.field, not dataclasses.field")
        f = default if isinstance(default, Field) else field(default=default)
        f.name = name
        f.type = annotation
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


def _bind(
    qualname: str,
    names: tuple[str, ...],
    slots: tuple[tuple[str, Any, Any, bool], ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    slotted: bool,
) -> dict[str, Any]:
    """Every field's value from the arguments of a call, as the generated ``__init__`` binds
    them (the same TypeErrors)."""
    n = len(names)
    if len(args) > n:
        raise TypeError(
            f"{qualname}.__init__() takes {n + 1} positional arguments but "
            f"{len(args) + 1} were given"
        )
    values = dict(zip(names, args, strict=False))
    for key, value in kwargs.items():
        if key not in names:
            raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {key!r}")
        if key in values:
            raise TypeError(f"{qualname}.__init__() got multiple values for argument {key!r}")
        values[key] = value
    out = {}
    missing = []
    for name, default, factory, init in slots:
        if not init:  # as in dataclasses: a plain default stays on the class (no slots)
            if factory is not MISSING:
                out[name] = factory()
            elif default is not MISSING and slotted:
                out[name] = default
        elif name in values:
            out[name] = values[name]
        elif default is not MISSING:
            out[name] = default
        elif factory is not MISSING:
            out[name] = factory()
        else:
            missing.append(name)
    if missing:
        raise TypeError(
            f"{qualname}.__init__() missing {len(missing)} required positional "
            f"argument{'s' if len(missing) > 1 else ''}: " + ", ".join(repr(m) for m in missing)
        )
    return out


def _check_order(fields: list[Field]) -> None:
    seen_default = False
    for f in fields:
        if not f.init:
            continue
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        seen_default = seen_default or has_default


def _compiled_init(
    cls: type, fields: list[Field], frozen: bool, slotted: bool
) -> Callable[..., None]:
    """``__init__`` written as source and compiled, as dataclasses does: ~0.2 ms when the class
    is made, a few times faster per call than ``_make_init``'s (``fast_init=True``)."""
    env: dict[str, Any] = {"__osa": object.__setattr__, "__FACTORY": _HAS_FACTORY}
    params, body = [], []
    for f in fields:
        if f.init:
            if f.default is not MISSING:
                env[f"__d_{f.name}"] = f.default
                params.append(f"{f.name}=__d_{f.name}")
            elif f.default_factory is not MISSING:
                params.append(f"{f.name}=__FACTORY")
            else:
                params.append(f.name)
        if f.default_factory is not MISSING:
            env[f"__f_{f.name}"] = f.default_factory
            value = (
                f"__f_{f.name}() if {f.name} is __FACTORY else {f.name}"
                if f.init
                else f"__f_{f.name}()"
            )
        elif f.init:
            value = f.name
        elif slotted and f.default is not MISSING:  # no class attribute to fall back on
            env[f"__d_{f.name}"] = f.default
            value = f"__d_{f.name}"
        else:
            continue
        body.append(
            f"    __osa(self, {f.name!r}, {value})" if frozen else f"    self.{f.name} = {value}"
        )
    if getattr(cls, "__post_init__", None) is not None:
        body.append("    self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    exec(source, env)  # noqa: S102 - our own text, from the field names
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _make_init(
    cls: type, fields: list[Field], direct: bool, frozen: bool, slotted: bool
) -> Callable[..., None]:
    """``__init__`` binding arguments like the generated one. *direct*: the instance has a
    ``__dict__`` and no ``__setattr__`` of its own, so fields are written into it."""
    params = [f for f in fields if f.init]
    names = tuple(f.name for f in params)
    # (name, default, factory, init) for every field, in order.
    slots = tuple((f.name, f.default, f.default_factory, f.init) for f in fields)
    all_init = len(params) == len(fields)
    post_init = getattr(cls, "__post_init__", None) is not None
    qualname = cls.__qualname__
    n = len(names)
    put_attr = object.__setattr__ if frozen else setattr  # as the generated __init__ assigns

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if not kwargs and len(args) == n and all_init:  # every field given by position
            if direct:
                self.__dict__.update(zip(names, args, strict=True))
            else:
                for name, value in zip(names, args, strict=True):
                    put_attr(self, name, value)
            if post_init:
                self.__post_init__()
            return
        out = _bind(qualname, names, slots, args, kwargs, slotted)
        if direct:
            self.__dict__.update(out)
        else:
            for name, value in out.items():
                put_attr(self, name, value)
        if post_init:
            self.__post_init__()

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _base_fields(cls: type, frozen: bool) -> dict[str, Field]:
    """The fields of the dataclass bases (ours or the standard library's), in order."""
    out: dict[str, Field] = {}
    for base in cls.__mro__[-1:0:-1]:
        attrs = base.__dict__
        if "__dataclass_params__" not in attrs:
            continue
        if attrs["__dataclass_params__"].frozen != frozen:
            raise TypeError(f"{cls.__qualname__}: frozen and non-frozen dataclasses mixed")
        if "__record_fields__" in attrs:
            out.update(attrs["__record_fields__"])
            continue
        import dataclasses

        for std in dataclasses.fields(base):
            f = Field(
                MISSING if std.default is dataclasses.MISSING else std.default,
                MISSING if std.default_factory is dataclasses.MISSING else std.default_factory,
                std.init,
                std.repr,
                std.hash,
                std.compare,
                std.metadata,
            )
            f.name, f.type = std.name, std.type
            out[f.name] = f
    return out


def _with_slots(cls: Any, names: tuple[str, ...]) -> Any:
    """The class again, with ``__slots__`` for its fields (as ``dataclass(slots=True)``)."""
    attrs = dict(cls.__dict__)
    inherited = {s for b in cls.__mro__[1:-1] for s in b.__dict__.get("__slots__", ())}
    attrs["__slots__"] = tuple(n for n in names if n not in inherited)
    for name in names:
        attrs.pop(name, None)
    attrs.pop("__dict__", None)
    attrs.pop("__weakref__", None)
    new = type(cls)(cls.__name__, cls.__bases__, attrs)
    new.__qualname__ = cls.__qualname__
    return new


def _add_methods(c: Any, fields: list[Field], *, repr: bool, eq: bool, frozen: bool) -> None:  # noqa: A002
    """``__repr__``, ``__eq__``, the frozen ``__setattr__``/``__delattr__`` and ``__hash__``,
    each unless the class body defines it (as dataclasses does)."""
    attrs = c.__dict__
    qualname = c.__qualname__
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
            raise TypeError(f"Cannot overwrite attribute __setattr__ in class {c.__name__}")
        field_names = frozenset(f.name for f in fields)

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if type(self) is c or name in field_names:
                raise _frozen_error(f"cannot assign to field {name!r}")
            super(c, self).__setattr__(name, value)

        def __delattr__(self: Any, name: str) -> None:
            if type(self) is c or name in field_names:
                raise _frozen_error(f"cannot delete field {name!r}")
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


def _process(
    cls: _T,
    *,
    init: bool,
    repr: bool,  # noqa: A002
    eq: bool,
    frozen: bool,
    slots: bool,
    fast_init: bool,
) -> _T:
    all_fields = _base_fields(cls, frozen)
    for f in _own_fields(cls):
        all_fields[f.name] = f
    fields = list(all_fields.values())
    names = tuple(all_fields)
    # the methods are set on it below, which the type checker cannot follow
    c: Any = _with_slots(cls, names) if slots else cls
    attrs = c.__dict__
    c.__record_fields__ = all_fields
    c.__dataclass_fields__ = _StdFields(all_fields)
    c.__dataclass_params__ = _Params(init=init, repr=repr, eq=eq, frozen=frozen, slots=slots)

    if init and "__init__" not in attrs:
        _check_order(fields)
        direct = (
            not slots
            and (frozen or c.__setattr__ is object.__setattr__)
            and not any(hasattr(getattr(c, n, None), "__set__") for n in names)
        )
        c.__init__ = (
            _compiled_init(c, fields, frozen, slots)
            if fast_init
            else _make_init(c, fields, direct, frozen, slots)
        )
    _add_methods(c, fields, repr=repr, eq=eq, frozen=frozen)
    if frozen and slots:  # pickling, in the format dataclasses uses

        def __getstate__(self: Any) -> list[Any]:
            return [getattr(self, n) for n in names]

        def __setstate__(self: Any, state: list[Any]) -> None:
            for n, value in zip(names, state, strict=False):
                object.__setattr__(self, n, value)

        if "__getstate__" not in attrs:
            c.__getstate__ = __getstate__
        if "__setstate__" not in attrs:
            c.__setstate__ = __setstate__
    if "__match_args__" not in attrs:
        type.__setattr__(c, "__match_args__", tuple(f.name for f in fields if f.init))
    return c  # type: ignore[no-any-return]


# ---- the functions of dataclasses, for record classes without importing it ------------------


def is_dataclass(obj: object) -> bool:
    """``dataclasses.is_dataclass``: a record class or instance, or a standard dataclass."""
    cls = obj if isinstance(obj, type) else type(obj)
    if hasattr(cls, "__record_fields__"):
        return True
    std = sys.modules.get("dataclasses")  # no standard dataclass exists before it is imported
    return std is not None and std.is_dataclass(obj)


def fields(class_or_instance: Any) -> tuple[Field, ...]:
    """``dataclasses.fields``; for a standard dataclass, its ``dataclasses.Field`` objects."""
    own = getattr(class_or_instance, "__record_fields__", None)
    if own is not None:
        return tuple(own.values())
    import dataclasses

    return dataclasses.fields(class_or_instance)  # type: ignore[return-value]


def replace(obj: _R, /, **changes: Any) -> _R:
    """``dataclasses.replace``: a new instance with *changes*, the other fields copied."""
    own = getattr(type(obj), "__record_fields__", None)
    if own is None:
        import dataclasses

        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    for f in own.values():
        if not f.init:
            if f.name in changes:
                raise ValueError(
                    f"field {f.name} is declared with init=False, it cannot be specified "
                    "with replace()"
                )
            continue
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj: Any, *, dict_factory: Callable[[list[tuple[str, Any]]], Any] = dict) -> Any:
    """``dataclasses.asdict``: fields as a dict, recursively, other values deep-copied."""
    if not is_dataclass(obj) or isinstance(obj, type):
        raise TypeError("asdict() should be called on dataclass instances")
    return _asdict_inner(obj, dict_factory)


def _asdict_inner(obj: Any, dict_factory: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    if not isinstance(obj, type) and is_dataclass(obj):
        return dict_factory(
            [(f.name, _asdict_inner(getattr(obj, f.name), dict_factory)) for f in fields(obj)]
        )
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*[_asdict_inner(v, dict_factory) for v in obj])
    if isinstance(obj, (list, tuple)):
        return type(obj)(_asdict_inner(v, dict_factory) for v in obj)
    if isinstance(obj, dict):
        return type(obj)(
            (_asdict_inner(k, dict_factory), _asdict_inner(v, dict_factory)) for k, v in obj.items()
        )
    import copy

    return copy.deepcopy(obj)


@overload
def record(cls: _T, /) -> _T: ...
@overload
def record(
    *,
    init: bool = True,
    repr: bool = True,  # noqa: A002
    eq: bool = True,
    frozen: bool = False,
    slots: bool = False,
    fast_init: bool = False,
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
    slots: bool = False,
    fast_init: bool = False,
) -> _T | Callable[[_T], _T]:
    """``@dataclass`` / ``@dataclass(frozen=True, slots=True, …)`` for what the module's
    docstring lists."""

    def wrap(c: _T) -> _T:
        return _process(
            c, init=init, repr=repr, eq=eq, frozen=frozen, slots=slots, fast_init=fast_init
        )

    return wrap if cls is None else wrap(cls)
