"""redact.py: realistic (generated, fake) secrets of every kind are found wherever they sit; ordinary
code, hashes, ids and images are left byte for byte as they were."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import subprocess
import uuid
from pathlib import Path

import pytest

from llmos_tui.redact import MARK, env_secrets, has_redactions, redact_obj, redact_text

REPO = Path(__file__).resolve().parents[2]
RNG = random.Random(20261207)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
UPPER_DIGITS = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"


def rand(chars: str, n: int) -> str:
    return "".join(RNG.choice(chars) for _ in range(n))


def with_digit(text: str) -> str:
    return text[:-1] + "7"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pem(label: str, lines: int = 8) -> str:
    body = "\n".join(rand(B64, 64) for _ in range(lines)) + "\n" + rand(B64, 20) + "=="
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


# kind -> fake value, shaped like the real thing (random characters, never a real key)
FAKES: dict[str, str] = {
    "anthropic-key": "sk-ant-api03-" + rand(URLSAFE, 93) + "AA",
    "openai-key": "sk-proj-" + with_digit(rand(URLSAFE, 74)) + "T3BlbkFJ" + rand(URLSAFE, 74),
    "openai-key-legacy": "sk-" + with_digit(rand(ALNUM, 48)),
    "aws-access-key-id": "AKIA" + rand(UPPER_DIGITS, 16),
    "aws-session-key-id": "ASIA" + rand(UPPER_DIGITS, 16),
    "github-token": "ghp_" + rand(ALNUM, 36),
    "github-oauth": "gho_" + rand(ALNUM, 36),
    "github-server": "ghs_" + rand(ALNUM, 36),
    "github-refresh": "ghr_" + rand(ALNUM, 76),
    "github-pat": "github_pat_" + rand(ALNUM, 22) + "_" + rand(ALNUM, 59),
    "gitlab-token": "glpat-" + rand(URLSAFE, 20),
    "slack-token": f"xoxb-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand(ALNUM, 24)}",
    "slack-user": f"xoxp-{rand(string.digits, 12)}-{rand(string.digits, 12)}-{rand(string.digits, 13)}-{rand('0123456789abcdef', 32)}",
    "stripe-key": "sk_live_" + rand(ALNUM, 24),
    "google-api-key": "AIza" + rand(URLSAFE, 35),
    "jwt": (
        b64url(b'{"alg":"HS256","typ":"JWT"}')
        + "."
        + b64url(json.dumps({"sub": "1234567890", "name": "Ada", "iat": 1516239022}).encode())
        + "."
        + rand(URLSAFE, 43)
    ),
    "private-key": pem("RSA PRIVATE KEY"),
    "private-key-pkcs8": pem("PRIVATE KEY"),
    "private-key-openssh": pem("OPENSSH PRIVATE KEY", 12),
    "private-key-ec": pem("EC PRIVATE KEY", 3),
}
KIND_OF = {name: name for name in FAKES}
KIND_OF.update(
    {
        "openai-key-legacy": "openai-key",
        "aws-session-key-id": "aws-access-key-id",
        "github-oauth": "github-token",
        "github-server": "github-token",
        "github-refresh": "github-token",
        "github-pat": "github-token",
        "slack-user": "slack-token",
        "private-key-pkcs8": "private-key",
        "private-key-openssh": "private-key",
        "private-key-ec": "private-key",
    }
)


def contexts(value: str) -> dict[str, str]:
    """The same value embedded the ways it shows up in tool output, files and model text."""
    return {
        "bare": f"the value is {value} (found it)",
        "json": json.dumps({"service": {"credentials": [value], "region": "eu-west-1"}}, indent=2),
        "json-compact": json.dumps({"value": value}),
        "yaml": f"service:\n  region: eu-west-1\n  value: {value}\n  retries: 3\n",
        "shell": f"$ cat ~/.config/app/credentials\n{value}\n$ echo done\ndone\n",
        "env": f"HOME=/home/ada\nSERVICE_CREDENTIAL={value}\nLANG=C.UTF-8\n",
        "log": f"2026-12-07T10:00:00Z INFO loaded credential '{value}' for eu-west-1",
    }


@pytest.mark.parametrize("name", sorted(FAKES))
def test_every_kind_is_found_in_json_yaml_shell_and_prose(name: str) -> None:
    value = FAKES[name]
    for where, text in contexts(value).items():
        out = redact_text(text)
        assert value not in out, (name, where, out)
        # no useful piece of it is left either (private keys: none of their base64 lines)
        for piece in value.split("\n"):
            if len(piece) >= 16:
                assert piece not in out, (name, where, piece)
        if where in ("bare", "shell", "yaml", "log"):
            assert f"{MARK}{KIND_OF[name]}]" in out, (name, where, out)
        assert redact_text(out) == out  # idempotent
    assert redact_text(value) == f"{MARK}{KIND_OF[name]}]"
    # the text around a secret is kept as it was
    assert redact_text(contexts(value)["bare"]) == f"the value is {MARK}{KIND_OF[name]}] (found it)"


def test_a_private_key_cut_short_is_redacted_to_its_last_line() -> None:
    block = FAKES["private-key"]
    cut = block[: block.index("-----END")].rstrip("\n")  # a truncated tool output
    out = redact_text(f"key:\n{cut}\n\nDone: 3 files copied.")
    assert out == f"key:\n{MARK}private-key]\n\nDone: 3 files copied."
    pgp = (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n"
        + rand(B64, 64)
        + "\n-----END PGP PRIVATE KEY BLOCK-----"
    )
    assert redact_text(pgp) == f"{MARK}private-key]"
    # an escaped block inside JSON text (a service-account file printed by `cat`)
    sa = json.dumps(
        {
            "type": "service_account",
            "private_key": block + "\n",
            "client_email": "a@b.iam.example.com",
        }
    )
    out = redact_text(sa)
    assert (
        block.split("\n")[1] not in out and json.loads(out)["client_email"] == "a@b.iam.example.com"
    )


AWS_SECRET = rand(B64, 40)
ASSIGNMENTS = [
    # (text, secret that must go, kind)
    (
        f"[default]\naws_access_key_id = {FAKES['aws-access-key-id']}\naws_secret_access_key = {AWS_SECRET}\n",
        AWS_SECRET,
        "aws-secret-key",
    ),
    (f'export AWS_SECRET_ACCESS_KEY="{AWS_SECRET}"', AWS_SECRET, "aws-secret-key"),
    ("DB_PASSWORD=Hunter2!xyz\nDB_HOST=localhost\n", "Hunter2!xyz", "password"),
    (
        '{"username": "ada", "password": "correct horse battery staple"}',
        "correct horse battery staple",
        "password",
    ),
    ("database:\n  user: app\n  password: s3cr3t-Pa55\n", "s3cr3t-Pa55", "password"),
    ("PGPASSWORD='opensesame42' psql -h db", "opensesame42", "password"),
    (f"export API_TOKEN={rand(ALNUM, 32)}", None, "secret"),
    (f'client_secret: "{rand(URLSAFE, 40)}"', None, "secret"),
    (f"STRIPE_WEBHOOK_SECRET={rand(ALNUM, 24)}1", None, "secret"),
    (f"SENTRY_AUTH_KEY={rand('0123456789abcdef', 32)}", None, "secret"),
    (f"--api-key={rand(ALNUM, 28)}9 --verbose", None, "secret"),
    (f"apiKey: '{rand(ALNUM, 30)}3'", None, "secret"),
    ("mysql://app:S3cr3tPass@db.internal:5432/app", "S3cr3tPass", "url-password"),
    ("https://deploy:x9Kf2mQ7vLp4@git.example.com/org/repo.git", "x9Kf2mQ7vLp4", "url-password"),
    (
        f"curl -H 'Authorization: Bearer {rand(ALNUM, 40)}' https://api.example.com",
        None,
        "bearer-token",
    ),
    (
        f"Authorization: Basic {base64.b64encode(b'ada:wonderland-42').decode()}",
        None,
        "bearer-token",
    ),
]


@pytest.mark.parametrize("text, secret, kind", ASSIGNMENTS)
def test_secret_assignments_keep_the_name_and_lose_the_value(
    text: str, secret: str | None, kind: str
) -> None:
    out = redact_text(text)
    assert f"{MARK}{kind}]" in out, out
    if secret is not None:
        assert secret not in out
    assert redact_text(out) == out
    assert len(out.splitlines()) == len(text.splitlines())  # only the value went


def test_values_of_secret_environment_variables_are_redacted_whatever_their_shape(
    monkeypatch,
) -> None:
    odd = "qz-" + rand(string.ascii_lowercase, 6) + "." + rand(string.digits, 5) + "~internal"
    monkeypatch.setenv("ANTHROPIC_API_KEY", odd)
    monkeypatch.setenv("MY_SERVICE_PASSWORD", "opensesame-99")
    monkeypatch.setenv("DEPLOY_SSH_KEY", "/home/ada/.ssh/id_ed25519")  # a path: not a secret value
    monkeypatch.setenv("RETRY_TOKEN", "12345678")  # a plain number: left
    monkeypatch.setenv("UNRELATED", "opensesame-99-and-more")
    text = f"key={odd}; again: {odd}\npassword was opensesame-99\nssh -i /home/ada/.ssh/id_ed25519 host\nretry 12345678"
    out = redact_text(text)
    assert odd not in out and "opensesame-99" not in out
    assert out.count(f"{MARK}env:ANTHROPIC_API_KEY]") == 2
    assert f"{MARK}env:MY_SERVICE_PASSWORD]" in out
    assert "/home/ada/.ssh/id_ed25519" in out and "retry 12345678" in out
    names = {name for _value, name in env_secrets()}
    assert {"ANTHROPIC_API_KEY", "MY_SERVICE_PASSWORD"} <= names
    assert not names & {"DEPLOY_SSH_KEY", "RETRY_TOKEN", "UNRELATED", "HOME", "PATH"}
    # an explicit environment instead of this process's
    assert (
        redact_text("token abc12345xyz", environ={"X_TOKEN": "abc12345xyz"})
        == f"token {MARK}env:X_TOKEN]"
    )
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    assert redact_text(odd) == odd  # read at each call: gone from the environment, no longer known


def test_structures_are_copied_only_where_a_secret_was_found() -> None:
    key = FAKES["anthropic-key"]
    clean = {"command": "ls -la", "args": [1, 2.5, None, True], "nested": {"a": ["x", "y"]}}
    assert redact_obj(clean) is clean
    data = {
        "command": f"curl -H 'x-api-key: {key}' https://api.anthropic.com",
        "keep": clean,
        "api_key": "f" + rand(ALNUM, 30) + "7",
        "password": "hunter2-Z",
        "max_tokens": 4096,
        "token_count": 12,
        "session_token": "short",
        "items": ({"k": key},),
    }
    out = redact_obj(data)
    assert out is not data and out["keep"] is clean  # untouched parts are shared, not copied
    assert key not in json.dumps(out, default=list)
    assert out["api_key"] == f"{MARK}secret]" and out["password"] == f"{MARK}password]"
    assert (
        out["max_tokens"] == 4096 and out["token_count"] == 12 and out["session_token"] == "short"
    )
    assert out["items"][0]["k"] == f"{MARK}anthropic-key]" and isinstance(out["items"], tuple)
    assert (
        data["command"].endswith("https://api.anthropic.com") and key in data["command"]
    )  # the input is not mutated
    assert has_redactions(out) and not has_redactions(clean)


# ---- no false positives -------------------------------------------------------------------------------

OWN_SOURCE = [
    "llmos_tui/learning/traces.py",
    "llmos_tui/learning/index.py",
    "llmos_tui/learning/store.py",
    "llmos_tui/execution/replay/engine.py",
    "llmos_tui/config.py",
    "llmos_tui/learning/tool_examples.py",
    "llmos_tui/devtools/scripted_server.py",
    "llmos_tui/volumes/git_sync.py",
    "llmos_tui/atomic.py",
]

CODE_LINES = """
password_field = form.get("password")
if not password: raise ValueError("password required")
token = tokenizer.next_token()
api_key = os.environ["ANTHROPIC_API_KEY"]
self.api_key = api_key
password: str = Field(..., min_length=8)
secret_key: Optional[str] = None
SECRET_KEY = os.environ.get("SECRET_KEY")
export GITHUB_TOKEN=$(gh auth token)
export ANTHROPIC_API_KEY="${ANTHROPIC_API_KEY:-}"
password: ${DB_PASSWORD}
token: !vault |
api_key = "<your-api-key>"
PASSWORD=changeme
DB_PASSWORD=********
tokens: {input: 1200, output: 340}
"max_tokens": 4096, "token_count": 17
for token in tokens: print(token)
access_token_url = "https://github.com/login/oauth/access_token"
git clone git@github.com:anthropics/claude-code.git
https://ada@example.com/path and ssh://git@host:22/repo.git
Basic authentication is disabled; use a Bearer token from the settings page.
risk-assessment-framework-module-name-that-is-long
sk-learn is a typo for scikit-learn
AKIA is the prefix of an access key id
primary_key=True, sort_key=lambda row: row[0]
cache_key = make_key(goal, volume)
"""


def own_noise() -> list[str]:
    texts = [(REPO / rel).read_text(encoding="utf-8") for rel in OWN_SOURCE]
    try:
        log = subprocess.run(
            ["git", "log", "--format=%H %h %an %s", "-n", "40"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        log = ""
    texts.append(log)
    texts.append("\n".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(50)))
    texts.append("\n".join(hashlib.sha1(str(i).encode()).hexdigest() for i in range(50)))
    texts.append("\n".join(str(uuid.UUID(int=RNG.getrandbits(128), version=4)) for _ in range(50)))
    png = b"\x89PNG\r\n\x1a\n" + bytes(RNG.getrandbits(8) for _ in range(6000))
    texts.append('<img src="data:image/png;base64,' + base64.b64encode(png).decode() + '">')
    texts.append(
        json.dumps(
            {
                "image": {
                    "type": "base64",
                    "media_type": "image/png",
                    "data": base64.b64encode(png[::-1]).decode(),
                }
            }
        )
    )
    texts.append(base64.urlsafe_b64encode(bytes(RNG.getrandbits(8) for _ in range(20000))).decode())
    texts.append(CODE_LINES)
    from llmos_tui.learning.traces import ToolCall, dump_trace, make_trace

    trace = make_trace(
        "Create a Python calculator",
        [
            ToolCall(
                "Write",
                {"file_path": "{{cwd}}/calc.py", "content": "print(eval(input()))\n"},
                {"is_error": False, "summary": "created", "files_created": ["calc.py"]},
                tool_use_id="toolu_01AbCdEf",
            ),
            ToolCall(
                "Bash",
                {"command": "python3 calc.py <<< '6*7'"},
                {"is_error": False, "summary": "42", "exit_code": 0},
            ),
        ],
        slots={"file": "calc.py"},
        emotion={"valence": 0.4},
    )
    texts.append(dump_trace(trace))
    return texts


def test_ordinary_code_hashes_ids_and_images_are_left_unchanged() -> None:
    texts = own_noise()
    assert sum(t.count("\n") for t in texts) > 3000  # thousands of lines of real text
    for text in texts:
        out = redact_text(text)
        if out != text:
            changed = [
                (a, b) for a, b in zip(text.splitlines(), out.splitlines(), strict=False) if a != b
            ]
            raise AssertionError(f"false positive(s): {changed[:5]}")
    assert redact_obj(texts) is texts
