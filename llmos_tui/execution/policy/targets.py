"""The findings of a policy check and the check of a write target, split from ``shell.py`` so that
a Write, Edit or NotebookEdit is checked without loading the shell analysis (the analyzer of a
Bash command, ``shell.Analyzer``, extends ``PathChecks``). A FOLLOWER replay of a Write compiles
and imports this module, not the 2,000 lines of the shell analyzer."""

from __future__ import annotations

import os
import time

from ...records import record
from .paths import PathContext, Violation, glob_fixed_parts, is_wild
from .words import ITEM, Arg


class AnalysisTimeout(Exception):
    """The analysis ran past its deadline."""


@record(frozen=True)
class Finding:
    """A rule that matched a target, with its level (deny, ask or risky)."""

    level: str  # "deny" | "ask" | "risky"
    rule: str
    reason: str


class PathChecks:
    """Collects findings and checks the paths one check writes (``check_write``)."""

    def __init__(
        self,
        ctx: PathContext,
        *,
        allow_network: bool,
        deadline: float,
        findings: list[Finding] | None = None,
        depth: int = 0,
    ) -> None:
        self.ctx = ctx
        self.allow_network = allow_network
        self.deadline = deadline
        self.findings: list[Finding] = [] if findings is None else findings
        self.depth = depth
        self.cur: str | None = ctx.root
        self.written: set[str] = set()  # real paths whose content this script writes
        self.links: dict[str, str] = {}  # symlinks this script creates: link path -> target
        self._ticks = 0

    # ---- findings ------------------------------------------------------------------
    def deny(self, rule: str, reason: str) -> None:
        self.findings.append(Finding("deny", rule, reason))

    def ask(self, rule: str, reason: str) -> None:
        """Something this policy cannot model: the user is asked (headless: denied)."""
        self.findings.append(Finding("ask", rule, reason))

    def risky(self, rule: str, reason: str) -> None:
        self.findings.append(Finding("risky", rule, reason))

    def finding(self, level: str, rule: str, reason: str) -> None:
        self.findings.append(Finding(level, rule, reason))

    def violation(self, v: Violation) -> None:
        self.findings.append(Finding("deny", v.rule, v.reason))

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks & 31 == 0 and time.monotonic() > self.deadline:
            raise AnalysisTimeout("the policy check ran out of time")

    # ---- write targets -------------------------------------------------------------
    def item_real(self, arg: Arg) -> str | None:
        """A path made of a listing item: stays inside the current dir unless it climbs out."""
        if self.cur is None or not self.ctx.inside_root(self.cur):
            return None
        text = arg.text
        if text.startswith("/") or text.startswith("~"):
            return None
        parts = text.split("/")
        if ".." in parts:
            return None
        return os.path.join(self.cur, text.replace(ITEM, "llmos-item"))

    def check_write(
        self, arg: Arg, *, verb: str = "write", overwrite_risky: bool = True, content: bool = True
    ) -> str | None:
        """Deny unless ``arg`` is a write target inside the working directory; return its real path."""
        if arg.psub:
            return None
        if arg.item:
            real = self.item_real(arg)
            if real is None:
                self.deny(
                    "write.unresolved_target",
                    f"cannot tell where '{arg.show()}' points; {verb} target must be inside the working directory",
                )
            return real
        if not arg.static:
            self.deny(
                "write.unresolved_target",
                f"the {verb} target '{arg.show()}' is computed at run time and cannot be checked",
            )
            return None
        text = arg.text
        if text == "":
            return None
        if arg.glob:
            return self._check_glob_write(arg, verb)
        if self.cur is None and not text.startswith(("/", "~")) and text not in ("-",):
            self.deny(
                "write.unresolved_target",
                f"the current directory is unknown here, so '{text}' cannot be located",
            )
            return None
        if text.startswith(("/dev/tcp/", "/dev/udp/")):
            self.deny(
                "network.dev_tcp",
                f"{text} opens a network connection from the shell (reverse shell pattern)",
            )
            return None
        real = self.through_links(self.ctx.resolve(text, self.cur))
        v = self.ctx.write_violation(text, real, verb=verb)
        if v is not None:
            self.violation(v)
            return None
        if self._hardlinked(real):
            self.deny(
                "write.hardlink",
                f"{real} has other hard links, which may be outside the working directory",
            )
            return None
        if overwrite_risky and os.path.isfile(real):
            self.risky("write.overwrite", f"{verb} overwrites the existing file {real}")
        if content:
            self.written.add(real)
        return real

    def _glob(self, pattern: str, limit: int = 300) -> list[str]:
        """Matches of a pattern on disk (lazily, capped, within the deadline)."""
        import glob as _glob
        import itertools

        fixed = glob_fixed_parts(pattern)
        prefix = "/".join(fixed) or "/"
        wild = sum(1 for part in pattern.split("/") if is_wild(part))
        if wild > 3 or not os.path.isdir(prefix):
            return []
        out = []
        try:
            for m in itertools.islice(_glob.iglob(pattern), limit):
                out.append(m)
                self.tick()
        except (OSError, ValueError, RecursionError):
            pass
        return out

    def through_links(self, real: str) -> str:
        """Follow symlinks created earlier by this same script (they do not exist yet on disk)."""
        for _ in range(8):
            for link, target in self.links.items():
                if real == link or real.startswith(link + "/"):
                    real = os.path.normpath(target + real[len(link) :])
                    break
            else:
                return real
        return real

    def _hardlinked(self, real: str) -> bool:
        try:
            st = os.lstat(real)
        except OSError:
            return False
        import stat as _stat

        return _stat.S_ISREG(st.st_mode) and st.st_nlink > 1

    def _check_glob_write(self, arg: Arg, verb: str) -> str | None:
        text = arg.text
        if self.cur is None and not text.startswith("/"):
            self.deny(
                "write.unresolved_target",
                f"the current directory is unknown here, so '{text}' cannot be located",
            )
            return None
        base = self.ctx.expand_user(text) or text
        pattern = base if base.startswith("/") else os.path.join(self.cur or self.ctx.root, base)
        fixed = glob_fixed_parts(pattern)
        prefix = "/".join(fixed) or "/"
        real_prefix = self.ctx.resolve(prefix)
        v = self.ctx.write_violation(prefix, real_prefix, verb=verb)
        if v is not None:
            self.violation(v)
            return None
        if ".." in pattern.split("/")[len(fixed) :]:
            self.deny("write.unresolved_target", f"the {verb} pattern {text} climbs out with '..'")
            return None
        matches = self._glob(pattern)
        for m in matches:
            real = self.ctx.resolve(m)
            v = self.ctx.write_violation(m, real, verb=verb)
            if v is not None:
                self.violation(v)
                return None
        return real_prefix
