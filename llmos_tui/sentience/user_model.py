"""Theory of mind: a model of the user inferred from chat messages and run outcomes.

``classify_message(text, previous)`` labels one message (thanks, correction, repeated goal,
terse reply) from the words it uses; ``UserModel.observe`` moves the four estimates by the
``user_effects`` constants (all bounded). Frustration, satisfaction and engagement relax
toward their baselines (0, 0, 0.5) with ``user_model_half_life_minutes``; expertise is a slow
moving average of how technical the user's messages are.

The empathy gap is ``|agent confidence - user satisfaction|``; when it passes
``empathy_gap_threshold`` (or frustration passes ``frustration_checkin``) and the last
check-in is at least ``checkin_cooldown`` messages ago, ``check_in_text`` says what to ask.
"""

from __future__ import annotations

import re
from typing import Any

from ..records import asdict, field, record
from ..redact import LazyRegex
from ..sentience_params import SentienceParams
from .valence import clamp, relax

# compiled on first use: classify_message reads chat messages, a run never needs them
_THANKS = LazyRegex(
    r"\b(thanks?|thank\s+you|thx|ty|great|perfect|awesome|excellent|nice|brilliant|exactly|works(?:\s+now)?|"
    r"well\s+done|good\s+job|love\s+it|that'?s\s+it|cool)\b|👍|🙏|🎉",
    re.IGNORECASE,
)
_CORRECTION = LazyRegex(
    r"(^\s*no\b|\bnot\s+what\b|\bthat'?s\s+(?:not|wrong)\b|\bwrong\b|\bincorrect\b|\bdid(?:n'?t| not)\s+(?:work|ask)\b|"
    r"\bdoes(?:n'?t| not)\s+work\b|\bstill\s+(?:broken|failing|wrong|not)\b|\bbroken\b|\bundo\b|\brevert\b|"
    r"\bi\s+(?:said|asked|meant)\b|\bagain\?|\bstop\b|\bmistake\b|\bnope\b|\bwhy\s+did\s+you\b)",
    re.IGNORECASE,
)
_TECH = LazyRegex(
    r"(`[^`]+`|\w+\(\)|\b\w+\.(?:py|js|ts|rs|go|c|h|json|yaml|toml|md|sh)\b|(?:^|\s)(?:/|~/|\./)\S+|"
    r"\b(?:regex|async|await|stack\s*trace|traceback|api|sdk|cli|refactor|dependency|docker|kubernetes|"
    r"git|commit|rebase|compile[rd]?|runtime|thread|mutex|schema|sql|json|yaml|http|tcp|endpoint|"
    r"unit\s+tests?|pytest|lint|typing|generics?|closure|lambda|recursion|complexity)\b)",
    re.IGNORECASE,
)
_WORD = LazyRegex(r"\w+")


@record
class MessageKind:
    """What a user message looks like (thanks, correction, terse, technical)."""

    thanks: bool = False
    correction: bool = False
    repeated: bool = False
    terse: bool = False
    technical: float = 0.0  # share of technical markers, 0..1
    words: int = 0

    @property
    def label(self) -> str:
        if self.correction:
            return "negative"
        if self.thanks:
            return "positive"
        return "neutral"


def _norm(text: str) -> str:
    return " ".join(w.lower() for w in _WORD.findall(text))


def classify_message(text: str, previous: list[str] | None = None) -> MessageKind:
    words = _WORD.findall(text)
    kind = MessageKind(words=len(words))
    kind.correction = bool(_CORRECTION.search(text))
    kind.thanks = bool(_THANKS.search(text)) and not kind.correction
    norm = _norm(text)
    kind.repeated = bool(norm) and len(words) >= 3 and norm in (previous or [])
    kind.terse = 0 < len(words) <= 3 and not kind.thanks and not kind.correction
    tech_hits = len(_TECH.findall(text))
    kind.technical = min(1.0, tech_hits / max(1.0, len(words) / 8.0)) if words else 0.0
    return kind


@record
class UserModel:
    """What the sentience layer infers about the user from their messages."""

    frustration: float = 0.0
    satisfaction: float = 0.0
    engagement: float = 0.5
    expertise: float = 0.5
    interaction_count: int = 0
    corrections: int = 0
    thanks: int = 0
    repeats: int = 0
    terse: int = 0
    last_checkin_at: int = -1_000_000  # interaction_count of the last check-in
    recent_messages: list[str] = field(default_factory=list)

    BASELINE = {"frustration": 0.0, "satisfaction": 0.0, "engagement": 0.5}

    @classmethod
    def from_dict(cls, data: Any) -> "UserModel":
        out = cls()
        if not isinstance(data, dict):
            return out
        for name in ("frustration", "satisfaction"):
            if _isnum(data.get(name)):
                setattr(out, name, clamp(float(data[name]), -1.0, 1.0))
        for name in ("engagement", "expertise"):
            if _isnum(data.get(name)):
                setattr(out, name, clamp(float(data[name]), 0.0, 1.0))
        for name in (
            "interaction_count",
            "corrections",
            "thanks",
            "repeats",
            "terse",
            "last_checkin_at",
        ):
            if isinstance(data.get(name), int) and not isinstance(data.get(name), bool):
                setattr(out, name, int(data[name]))
        msgs = data.get("recent_messages")
        if isinstance(msgs, list):
            out.recent_messages = [str(m)[:300] for m in msgs if isinstance(m, str)][-20:]
        return out

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("frustration", "satisfaction", "engagement", "expertise"):
            data[name] = round(data[name], 4)
        return data

    def public(self, confidence: float) -> dict[str, Any]:
        """What ``llmos sentience --json`` shows."""
        return {
            "frustration": round(self.frustration, 4),
            "satisfaction": round(self.satisfaction, 4),
            "engagement": round(self.engagement, 4),
            "expertise": round(self.expertise, 4),
            "interaction_count": self.interaction_count,
            "corrections": self.corrections,
            "thanks": self.thanks,
            "repeated_goals": self.repeats,
            "terse_replies": self.terse,
            "empathy_gap": round(self.empathy_gap(confidence), 4),
        }

    def decay(self, dt_seconds: float, half_life_minutes: float) -> None:
        for name, base in self.BASELINE.items():
            setattr(self, name, relax(getattr(self, name), base, dt_seconds, half_life_minutes))

    def observe(self, text: str, params: SentienceParams) -> MessageKind:
        e = params.user_effects
        kind = classify_message(text, self.recent_messages)
        self.interaction_count += 1
        if kind.thanks:
            self.thanks += 1
            self.satisfaction += e["thanks_satisfaction"]
            self.frustration += e["thanks_frustration"]
        if kind.correction:
            self.corrections += 1
            self.frustration += e["correction_frustration"]
            self.satisfaction += e["correction_satisfaction"]
        if kind.repeated:
            self.repeats += 1
            self.frustration += e["repeat_frustration"]
        if kind.terse:
            self.terse += 1
            self.frustration += e["terse_frustration"]
            self.engagement += e["terse_engagement"]
        rate = e["engagement_rate"]
        self.engagement += rate * (min(1.0, kind.words / 20.0) - self.engagement)
        erate = e["expertise_rate"]
        self.expertise += erate * (kind.technical - self.expertise)
        self._clamp()
        norm = _norm(text)
        if norm:
            self.recent_messages = (self.recent_messages + [norm[:300]])[-20:]
        return kind

    def observe_outcome(self, success: bool, params: SentienceParams) -> None:
        e = params.user_effects
        if success:
            self.satisfaction += e["success_satisfaction"]
        else:
            self.satisfaction += e["failure_satisfaction"]
            self.frustration += e["failure_frustration"]
        self._clamp()

    def _clamp(self) -> None:
        self.frustration = clamp(self.frustration, 0.0, 1.0)
        self.satisfaction = clamp(self.satisfaction, -1.0, 1.0)
        self.engagement = clamp(self.engagement, 0.0, 1.0)
        self.expertise = clamp(self.expertise, 0.0, 1.0)

    def empathy_gap(self, confidence: float) -> float:
        return abs(confidence - self.satisfaction)

    def needs_check_in(self, confidence: float, params: SentienceParams) -> bool:
        if self.interaction_count - self.last_checkin_at < params.checkin_cooldown:
            return False
        if self.interaction_count < 2:
            return False
        return (
            self.empathy_gap(confidence) > params.empathy_gap_threshold
            or self.frustration >= params.frustration_checkin
        )

    def check_in_text(self, confidence: float, params: SentienceParams) -> str:
        if self.frustration >= params.frustration_checkin:
            return (
                "It looks like this is not going the way you want. Before I continue: what should the result "
                "look like, and what did I get wrong so far?"
            )
        if confidence > self.satisfaction:
            return (
                "I think the last answers were right, but you don't seem satisfied. Is something missing "
                "or wrong that I should fix first?"
            )
        return (
            "You seem happier with the results than I expected. Should I keep working this way, "
            "or is there anything to check?"
        )


def _isnum(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
