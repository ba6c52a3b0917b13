"""The memory hierarchy.

L1 is the live context of a session (the model's messages). L2 is every chat or headless session
as a markdown log under ``memories/sessions/`` (``sessions.py``). L3 is the trace library
(``llmos_tui.learning``). L4 is facts (``memories/facts/``, or a project's ``memory/facts/``),
extracted from the session logs by deterministic rules (``facts.py``), plus the volumes'
insights. ``search.py`` searches all of them; ``inject.py`` builds the capped block of memory that
the UserPromptSubmit hook adds to a LEARNER/MIXED request.
"""
