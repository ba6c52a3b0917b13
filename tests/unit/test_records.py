"""``llmos_tui.records.record`` behaves like ``dataclasses.dataclass`` for what our classes use.

Each shape is declared twice, once with each decorator, and every observable is compared: the
constructor's binding and errors, defaults and factories, repr, equality, hashing, frozen-ness,
``fields``/``asdict``/``replace``/``is_dataclass``, ``__post_init__``, bases and pickling.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from dataclasses import field as std_field
from typing import Any, ClassVar

import pytest

from llmos_tui import records
from llmos_tui.records import field, record


def _pair(frozen: bool = False, slots: bool = False, fast: bool = False) -> tuple[type, type]:
    """The same class made by ``dataclasses.dataclass`` and by ``record``."""

    @dataclass(frozen=frozen, slots=slots)
    class Shape:
        kind: ClassVar[str] = "shape"
        name: str
        size: int = 3
        tags: list[str] = std_field(default_factory=list)
        note: str = std_field(default="", repr=False, compare=False)
        seen: int = std_field(default=0, init=False)

    @record(frozen=frozen, slots=slots, fast_init=fast)
    class Shape2:
        kind: ClassVar[str] = "shape"
        name: str
        size: int = 3
        tags: list[str] = field(default_factory=list)
        note: str = field(default="", repr=False, compare=False)
        seen: int = field(default=0, init=False)

    return Shape, Shape2


def _observe(cls: type, *args: Any, **kwargs: Any) -> Any:
    try:
        obj = cls(*args, **kwargs)
    except TypeError as exc:
        return ("TypeError", "missing" in str(exc) or "unexpected" in str(exc))
    return (
        repr(obj).split("(", 1)[1],
        {n: getattr(obj, n, "unset") for n in ("name", "size", "tags", "note", "seen")},
        dataclasses.asdict(obj),
        records.asdict(obj),
        [(f.name, f.init, f.repr, f.compare) for f in dataclasses.fields(obj)],
        [(f.name, f.init, f.repr, f.compare) for f in records.fields(obj)],
        cls.__match_args__,
    )


@pytest.mark.parametrize(
    ("frozen", "slots", "fast"),
    [
        (False, False, False),
        (True, False, False),
        (False, False, True),
        (False, True, True),
        (True, True, True),
    ],
)
@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a",), {}),
        (("a", 5), {"tags": ["x"]}),
        ((), {"name": "b", "note": "n"}),
        ((), {}),  # missing name
        (("a",), {"name": "b"}),  # twice
        (("a",), {"seen": 1}),  # init=False
        (("a",), {"bogus": 1}),
        (("a", 1, [], "", 9), {}),  # too many
    ],
)
def test_construction_matches_dataclass(
    frozen: bool, slots: bool, fast: bool, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    std, ours = _pair(frozen, slots, fast)
    assert _observe(ours, *args, **kwargs) == _observe(std, *args, **kwargs)


def test_missing_argument_message_names_it() -> None:
    _, ours = _pair()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'name'"):
        ours()


def test_factory_gives_each_instance_its_own_value() -> None:
    _, ours = _pair()
    a, b = ours("a"), ours("b")
    a.tags.append("x")
    assert b.tags == []
    assert "tags" not in ours.__dict__
    assert ours.size == 3  # a plain default stays a class attribute, as with dataclasses


@pytest.mark.parametrize("frozen", [False, True])
def test_equality_and_hash_match_dataclass(frozen: bool) -> None:
    std, ours = _pair(frozen)
    for cls in (std, ours):
        assert cls("a", note="x") == cls("a", note="y")  # compare=False
        assert cls("a") != cls("a", 4)
        assert cls("a").__eq__(object()) is NotImplemented
    if frozen:
        assert hash(ours("a", tags=())) == hash(ours("a", tags=()))  # type: ignore[arg-type]
        assert hash(ours("a", tags=())) == hash(std("a", tags=()))  # type: ignore[arg-type]
    else:
        assert ours.__hash__ is None and std.__hash__ is None


def test_other_class_with_same_fields_is_not_equal() -> None:
    a, b = _pair()[1], _pair()[1]
    assert a("x") != b("x")


def test_frozen_refuses_assignment_and_deletion() -> None:
    _, ours = _pair(frozen=True)
    obj = ours("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.name = "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del obj.size
    with pytest.raises(AttributeError):
        obj.other = 1


@pytest.mark.parametrize("mod", [dataclasses, records])
def test_replace_fields_asdict_and_is_dataclass(mod: Any) -> None:
    _, ours = _pair(frozen=True)
    obj = ours("a", tags=["t"])
    assert mod.is_dataclass(obj) and mod.is_dataclass(ours)
    assert not mod.is_dataclass(object())
    new = mod.replace(obj, size=7)
    assert (new.name, new.size, new.tags) == ("a", 7, ["t"])
    with pytest.raises(ValueError, match="init=False"):
        mod.replace(obj, seen=1)
    assert [f.name for f in dataclasses.fields(ours)] == ["name", "size", "tags", "note", "seen"]
    assert dataclasses.astuple(obj) == ("a", 3, ["t"], "", 0)


def test_post_init_runs_after_fields_are_set() -> None:
    @record(frozen=True)
    class Norm:
        text: str

        def __post_init__(self) -> None:
            object.__setattr__(self, "text", self.text.strip())

    assert Norm("  x ").text == "x"


def test_bases_fields_come_first_and_mix_with_dataclasses() -> None:
    @dataclass
    class Base:
        a: int
        b: int = 2

    @record
    class Mid(Base):
        c: int = 3

    @dataclass
    class Top(Mid):
        d: int = 4

    assert [f.name for f in dataclasses.fields(Top)] == ["a", "b", "c", "d"]
    assert Top(1).c == 3 and Mid(1, c=5) == Mid(1, 2, 5)
    assert (
        repr(Mid(1))
        == "test_bases_fields_come_first_and_mix_with_dataclasses.<locals>.Mid(a=1, b=2, c=3)"
    )


def test_explicit_methods_are_kept() -> None:
    @record(frozen=True)
    class Custom:
        x: int

        def __repr__(self) -> str:
            return "custom"

        def __hash__(self) -> int:
            return 42

    assert repr(Custom(1)) == "custom" and hash(Custom(1)) == 42


def test_pickle_round_trip() -> None:
    for obj in (_Module(1, ["a"]), _Slotted(2, ("b",))):
        assert pickle.loads(pickle.dumps(obj)) == obj


def test_slots_class_has_no_dict() -> None:
    obj = _Slotted(1)
    assert not hasattr(obj, "__dict__") and _Slotted.__slots__ == ("n", "items")
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.n = 2


def test_nested_records_and_dataclasses_in_asdict() -> None:
    std, ours = _pair()
    outer = ours("o", tags=[std("i"), ours("j")])
    assert records.asdict(outer) == dataclasses.asdict(outer)
    assert records.asdict(outer)["tags"][0] == {
        "name": "i",
        "size": 3,
        "tags": [],
        "note": "",
        "seen": 0,
    }


def test_dataclasses_field_is_refused() -> None:
    with pytest.raises(TypeError, match="records.field"):

        @record
        class Wrong:
            a: list[int] = std_field(default_factory=list)


def test_refuses_what_it_does_not_implement() -> None:
    with pytest.raises(TypeError):

        @record
        class Bad:
            a: int = 1
            b: int

    with pytest.raises(ValueError, match="mutable default"):

        @record
        class Mutable:
            a: list[int] = []  # noqa: RUF012


@record(frozen=True)
class _Module:
    n: int
    items: list[str] = field(default_factory=list, hash=False)


@record(frozen=True, slots=True, fast_init=True)
class _Slotted:
    n: int
    items: tuple[str, ...] = ()
