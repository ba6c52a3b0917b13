"""Slot extraction: the values a replay may substitute, with stable keys."""

from __future__ import annotations

import pytest

from llmos_tui.learning.slots import extract_slots


@pytest.mark.parametrize(
    "goal, expected",
    [
        ("Convert data.csv to JSON", {"file": "data.csv"}),
        ("Back up the notes folder to notes.tar.gz", {"file": "notes.tar.gz"}),
        ("Summarize README.md and CHANGELOG.md", {"file": "README.md", "file2": "CHANGELOG.md"}),
        ("Start a simple HTTP server on port 8000", {"port": "8000"}),
        ("serve the site on localhost:8080", {"port": "8080"}),
        (
            "Write a Python script that prints the primes below 100",
            {"language": "python", "number": "100"},
        ),
        ("transfer $20000 from savings to checking", {"number": "$20000"}),
        (
            "Fetch https://example.com/a.json and save it to out/data.json",
            {"url": "https://example.com/a.json", "path": "out/data.json"},
        ),
        (
            'how do i say "cancel my order" in french',
            {"quoted": "cancel my order", "natural_language": "french"},
        ),
        ("Create a JavaScript calculator", {"language": "javascript"}),
        ("Write a program in C", {"language": "c"}),
        ("Write a Go program", {"language": "go"}),
        ("edit ~/.bashrc", {"path": "~/.bashrc"}),
    ],
)
def test_extracts_slots(goal: str, expected: dict[str, str]) -> None:
    assert extract_slots(goal) == expected


@pytest.mark.parametrize(
    "goal",
    [
        "let's go home",  # "go" is a verb here, not the language
        "don't touch it",  # an apostrophe is not a quote
        "input/output handling",  # prose with a slash is not a path
        "make a tar.gz backup",  # a format, not a file name
        "version 3.14",  # a number, not a file
    ],
)
def test_does_not_invent_slots(goal: str) -> None:
    slots = extract_slots(goal)
    assert "language" not in slots and "quoted" not in slots
    assert "path" not in slots and "file" not in slots


def test_keys_are_stable_and_repeated_values_share_a_key() -> None:
    slots = extract_slots("copy a.txt to b.txt, then copy a.txt to c.txt")
    assert slots == {"file": "a.txt", "file2": "b.txt", "file3": "c.txt"}
    assert extract_slots("copy a.txt to b.txt") == extract_slots("copy a.txt to b.txt")


def test_slot_values_keep_their_spelling() -> None:
    assert extract_slots("Summarize README.md")["file"] == "README.md"
    assert extract_slots("Open 'My Notes'")["quoted"] == "My Notes"
