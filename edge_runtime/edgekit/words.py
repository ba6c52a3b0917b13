"""The words that decide a match, shared by llmos's matcher (``llmos_tui/learning/text.py``) and the
edge runtime's (``edgekit/match.py``): the action-verb classes, which of them contradict each
other, which a goal without a verb implies, and the light English stemmer both use to look words
up in them. Standard library only (the edge imports it with nothing installed but PyYAML).

One copy: a verb class added here reaches both matchers, so a goal cannot get a different verb
decision on the edge than in llmos (``tests/test_edge.py`` checks the dev goals).
"""

from __future__ import annotations

from functools import lru_cache

#: action-verb classes: canonical class -> words (already lower case; stems are derived).
VERB_CLASSES: dict[str, tuple[str, ...]] = {
    "create": (
        "create",
        "make",
        "build",
        "write",
        "generate",
        "produce",
        "compose",
        "draft",
        "author",
        "craft",
        "implement",
        "develop",
        "scaffold",
        "setup",
        "construct",
        "initialize",
        "init",
        "bootstrap",
    ),
    "delete": (
        "delete",
        "remove",
        "erase",
        "rm",
        "destroy",
        "wipe",
        "purge",
        "drop",
        "unlink",
        "trash",
        "discard",
        "eliminate",
        "del",
        "clear",
        "rmdir",
        "deletion",
        "removal",
    ),
    "clean": ("clean", "cleanup", "tidy", "prune", "free", "declutter", "vacuum"),
    "update": (
        "update",
        "edit",
        "modify",
        "change",
        "alter",
        "adjust",
        "rewrite",
        "revise",
        "refactor",
        "tweak",
        "amend",
        "patch",
        "replace",
        "reword",
        "improve",
    ),
    "fix": ("fix", "repair", "debug", "resolve", "troubleshoot", "diagnose"),
    "rename": ("rename",),
    "show": (
        "show",
        "display",
        "list",
        "print",
        "view",
        "see",
        "tell",
        "check",
        "inspect",
        "cat",
        "output",
        "read",
        "look",
        "echo",
        "dump",
        "lookup",
    ),
    "search": (
        "find",
        "search",
        "locate",
        "grep",
        "seek",
        "discover",
        "identify",
        "detect",
        "scan",
    ),
    "count": ("count", "tally", "howmany", "enumerate"),
    "summarize": (
        "summarize",
        "summarise",
        "summary",
        "recap",
        "tldr",
        "digest",
        "condense",
        "synopsis",
        "summarization",
        "summarisation",
    ),
    "explain": (
        "explain",
        "describe",
        "clarify",
        "define",
        "definition",
        "explanation",
        "description",
        "meaning",
        "mean",
    ),
    "run": (
        "run",
        "execute",
        "start",
        "launch",
        "invoke",
        "trigger",
        "begin",
        "serve",
        "boot",
        "spinup",
        "exec",
        "kickoff",
        "rerun",
        "restart",
        "resume",
    ),
    "stop": (
        "stop",
        "kill",
        "terminate",
        "halt",
        "end",
        "shutdown",
        "abort",
        "quit",
        "exit",
        "pause",
        "suspend",
        "interrupt",
    ),
    "cancel": ("cancel", "cancellation", "unsubscribe", "unbook"),
    "test": ("test", "verify", "validate", "assert", "unittest", "makesure", "testing"),
    "format": ("format", "prettify", "beautify", "reformat", "indent", "lint"),
    "convert": ("convert", "transform", "export", "transcode", "conversion", "turn"),
    "import": ("import", "ingest", "load"),
    "translate": ("translate", "translation"),
    "compress": ("compress", "zip", "gzip", "tar", "pack", "bundle", "compression"),
    "extract": ("extract", "decompress", "unzip", "untar", "unpack", "unarchive", "extraction"),
    "backup": ("backup", "archive", "snapshot"),
    "restore": (
        "restore",
        "recover",
        "revert",
        "rollback",
        "undo",
        "reset",
        "recovery",
        "reinstate",
    ),
    "copy": ("copy", "duplicate", "clone", "cp", "replicate", "mirror"),
    "move": ("move", "mv", "relocate"),
    "send": (
        "send",
        "email",
        "mail",
        "message",
        "post",
        "notify",
        "forward",
        "share",
        "text",
        "tweet",
        "dm",
    ),
    "download": ("download", "fetch", "pull", "retrieve", "scrape", "crawl", "wget", "curl"),
    "upload": ("upload", "push", "publish", "submit"),
    "deploy": ("deploy", "release", "ship", "rollout"),
    "install": ("install", "installation", "reinstall"),
    "uninstall": ("uninstall", "deinstall"),
    "add": ("add", "insert", "append", "include", "attach", "addition"),
    "open": ("open",),
    "close": ("close",),
    "enable": ("enable", "activate", "turnon", "switchon", "unmute", "allow"),
    "disable": ("disable", "deactivate", "turnoff", "switchoff", "mute", "silence"),
    "lock": ("lock", "freeze", "block", "ban"),
    "unlock": ("unlock", "unfreeze", "unblock", "unban"),
    "encrypt": ("encrypt", "encode", "encryption", "hash"),
    "decrypt": ("decrypt", "decode", "decryption"),
    "analyze": (
        "analyze",
        "analyse",
        "analysis",
        "examine",
        "evaluate",
        "assess",
        "profile",
        "benchmark",
        "measure",
        "investigate",
        "study",
        "research",
    ),
    "review": ("review", "audit", "critique", "proofread"),
    "compare": ("compare", "diff", "comparison", "contrast"),
    "sort": ("sort", "rank", "arrange", "reorder"),
    "merge": ("merge", "combine", "join", "concatenate", "concat", "unify"),
    "split": ("split", "divide", "separate", "chunk"),
    "increase": ("increase", "raise", "boost", "accelerate", "louder", "higher", "maximize"),
    "decrease": ("decrease", "reduce", "lower", "decelerate", "quieter", "minimize", "shrink"),
    "plot": ("plot", "chart", "graph", "visualize", "visualise", "draw"),
    "calculate": ("calculate", "compute", "calculation", "solve", "evaluate"),
    "schedule": ("schedule", "book", "reserve", "plan", "reservation", "booking"),
    "buy": ("buy", "purchase", "order"),
    "pay": ("pay", "payment"),
    "set": ("set", "configure", "config", "configuration"),
    "commit": ("commit",),
    "login": ("login", "signin", "logon", "authenticate"),
    "logout": ("logout", "signout", "logoff"),
}

#: Pairs of classes whose actions undo or contradict each other.
OPPOSED = {
    frozenset(p)
    for p in [
        ("create", "delete"),
        ("add", "delete"),
        ("run", "stop"),
        ("install", "uninstall"),
        ("enable", "disable"),
        ("lock", "unlock"),
        ("encrypt", "decrypt"),
        ("compress", "extract"),
        ("backup", "restore"),
        ("upload", "download"),
        ("open", "close"),
        ("login", "logout"),
        ("schedule", "cancel"),
        ("buy", "cancel"),
        ("create", "cancel"),
        ("import", "convert"),
        ("create", "clean"),
        ("install", "delete"),
        ("run", "cancel"),
        ("create", "restore"),
        ("increase", "decrease"),
    ]
}

#: Verb classes that a goal without any verb ("python fizzbuzz program", "git status") implies.
IMPLIED_CLASSES = frozenset({"create", "show", "run"})


# ---- stemming ---------------------------------------------------------------------------------

_IRREGULAR = {
    "wrote": "write",
    "written": "write",
    "made": "make",
    "built": "build",
    "ran": "run",
    "running": "run",
    "began": "begin",
    "begun": "begin",
    "sent": "send",
    "found": "find",
    "gave": "give",
    "given": "give",
    "took": "take",
    "taken": "take",
    "shown": "show",
    "read": "read",
    "did": "do",
    "done": "do",
    "got": "get",
    "children": "child",
    "people": "person",
    "men": "man",
    "women": "woman",
    "data": "data",
    "analyses": "analysis",
    "indices": "index",
    "bought": "buy",
    "paid": "pay",
    "kept": "keep",
    "left": "left",
    "lost": "lose",
    "set": "set",
    "put": "put",
    "cut": "cut",
    "stopped": "stop",
    "stopping": "stop",
    "was": "be",
    "were": "be",
    "is": "be",
    "are": "be",
    "has": "have",
    "had": "have",
}
_VOWELS = set("aeiouy")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic English stemmer (plural, -ing, -ed, final -e)."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    w = word
    if len(w) <= 3 or not w.isalpha():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("es") and len(w) > 4 and w[-3] in "sxz" or w.endswith(("ches", "shes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "ys")) and len(w) > 3:
        w = w[:-1]
    for suffix in ("ing", "ed"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            base = w[: -len(suffix)]
            if not (_VOWELS & set(base)):
                break
            if len(base) >= 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            w = base
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    if w.endswith("y") and len(w) > 4 and w[-2] not in _VOWELS:
        w = w[:-1] + "i"
    return w


def build_verb_lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for cls, words in VERB_CLASSES.items():
        for w in words:
            table.setdefault(w, cls)
            table.setdefault(stem(w), cls)
    return table


#: word or stem -> its verb class (the first class listing it wins).
VERB_LOOKUP = build_verb_lookup()
