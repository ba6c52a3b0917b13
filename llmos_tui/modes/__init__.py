"""One module per run mode. The kernel (``llmos_tui/kernel.py``) decides the mode of a goal and
hands the run to its runner with a :class:`~llmos_tui.modes.context.RunContext`:

- ``follower.py``: FOLLOWER and VERIFIED, the zero-model replay of a recorded trace;
- ``crystallized.py``: CRYSTALLIZED, a trace turned into a tool;
- ``mixed.py``: MIXED, a reduced LLM session guided by a similar trace (``guide.py``: its tools
  and worked examples);
- ``learner.py``: LEARNER, a full LLM session (``execution/llm/session.py``);
- ``orchestrated.py``: ORCHESTRATOR, plan, sub-goals through the kernel, synthesis;
- ``feedback.py``: FEEDBACK, thanks or a correction in a conversation (nothing runs);
- ``fallback.py``: what a replay that cannot run becomes (MIXED/LEARNER, or a refusal);
- ``record.py``: the trace a model run leaves.

Each runner imports what it needs when it runs, so a FOLLOWER hit never imports an LLM library.
"""
