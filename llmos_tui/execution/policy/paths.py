"""Path resolution and confinement for the policy engine.

Every path a tool touches is resolved the way the kernel will resolve it (``~`` expanded,
relative to the current directory, ``..`` and symlinks followed with ``realpath``) before any
rule looks at it. Writes are confined to the working directory; a few locations are never
writable (the workspace's own state, secrets, persistence hooks such as shell rc files or git
hooks) and secret locations are never readable, wherever the working directory is.
"""

from __future__ import annotations

import fnmatch
import os
import pwd
import re
from functools import lru_cache
from typing import Callable, Iterable

from ...records import field, record
from ...redact import LazyRegex  # module patterns: compiled on first use

# Writing to these is always harmless (checked on the text, before resolution).
SAFE_WRITE_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/stdout",
        "/dev/stderr",
        "/dev/tty",
        "/dev/zero",
        "/dev/full",
        "/dev/fd/1",
        "/dev/fd/2",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
    }
)
# Reading these is always harmless.
SAFE_READ_DEVICES = frozenset(
    {
        "/dev/null",
        "/dev/stdin",
        "/dev/zero",
        "/dev/urandom",
        "/dev/random",
        "/dev/fd/0",
        "/proc/self/fd/0",
        "/dev/tty",
    }
)

# Relative to a home directory: never read, never written.
HOME_SECRETS: tuple[str, ...] = (
    ".ssh",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker/config.json",
    ".gnupg",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".my.cnf",
    ".git-credentials",
    ".config/git/credentials",
    ".config/gh/hosts.yml",
    ".npmrc",
    ".yarnrc",
    ".pypirc",
    ".gem/credentials",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".config/hub",
    ".terraform.d/credentials.tfrc.json",
    ".vault-token",
    ".password-store",
    ".local/share/keyrings",
    ".config/rclone/rclone.conf",
    ".s3cfg",
    ".boto",
    ".oci",
    ".config/doctl",
    ".databrickscfg",
    ".huggingface/token",
    ".cache/huggingface/token",
    ".config/huggingface/token",
    ".claude/.credentials.json",
    ".config/anthropic",
    ".config/openai",
    ".authinfo",
    ".authinfo.gpg",
    ".fetchmailrc",
    ".msmtprc",
    ".bash_history",
    ".zsh_history",
    ".history",
    ".mysql_history",
    ".psql_history",
    ".python_history",
    ".node_repl_history",
    ".mozilla",
    ".config/google-chrome",
    ".config/chromium",
    ".config/BraveSoftware",
    ".thunderbird",
    ".local/share/password-store",
    ".config/Bitwarden",
    ".keychain",
    ".pki",
    ".config/sops",
    ".sops",
    ".ansible/vault_pass",
    ".vault_pass",
    ".config/heroku",
    ".netlify",
    ".config/netlify",
    ".vercel",
    ".config/vercel",
    ".wrangler",
    ".fly",
    ".config/op",
    ".op",
    ".circleci/cli.yml",
    ".travis/config.yml",
    ".dropbox",
    "Library/Keychains",
    "Library/Cookies",
    "Library/Application Support/Google/Chrome",
    ".local/share/kwalletd",
)

# Absolute: never read, never written.
SYSTEM_SECRETS: tuple[str, ...] = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/master.passwd",
    "/etc/security/opasswd",
    "/etc/ssl/private",
    "/etc/krb5.keytab",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
    "/etc/ssh/ssh_host_dsa_key",
    "/var/run/secrets",
    "/run/secrets",
    "/proc/kcore",
    "/dev/mem",
    "/dev/kmem",
    "/dev/port",
    "/var/lib/sss",
    "/etc/libvirt/secrets",
    "/etc/wireguard",
    "/etc/NetworkManager/system-connections",
    "/etc/pki/tls/private",
    "/var/lib/docker",
    "/root/.ssh",
    "/root/.aws",
    "/root/.gnupg",
    "/root/.netrc",
    "/root/.kube",
    "/root/.docker/config.json",
    "/root/.config/gcloud",
    "/root/.azure",
    "/root/.git-credentials",
    "/root/.bash_history",
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/group-",
    "/etc/security/passwd",
)
_OTHER_HOME = LazyRegex(r"^(/home/[^/]+|/root|/Users/[^/]+|/var/lib/[^/]+|/srv/[^/]+)(?=/)")
# /proc/PID/environ and friends, also per thread (/proc/PID/task/TID/environ, /proc/thread-self/…).
_PROC_SECRET = LazyRegex(r"^/proc/[^/]+/(task/[^/]+/)?(environ|mem|maps|auxv|cmdline|fd)(/|$)")
_PROC_LEAVES = ("environ", "mem", "maps", "auxv", "cmdline")
_PROC_SAMPLES = tuple(
    f"/proc/{pid}/{mid}{leaf}"
    for pid in ("1", "self", "thread-self")
    for mid in ("", "task/1/")
    for leaf in _PROC_LEAVES
)

# The cloud metadata services hand out credentials to anything that asks: AWS/GCP/Azure/Oracle/
# OpenStack (169.254.169.254, in decimal, hex, octal or IPv6-mapped spelling), AWS ECS task
# credentials (169.254.170.2), the rest of the link-local block, Alibaba and Tencent.
# The one definition, used for shell arguments and interpreter code alike.
CLOUD_METADATA = LazyRegex(
    r"\b169\.254\.\d{1,3}\.\d{1,3}\b|\b2852039166\b|\b0x0*a9fea9fe\b|\b0*251\.0*376\.0*251\.0*376\b|"
    r"::ffff:a9fe:a9fe|::ffff:169\.254\.|fd00:ec2::254|\b100\.100\.100\.200\b|"
    r"metadata\.google\.internal|metadata\.azure\.com|metadata\.tencentyun\.com|/computeMetadata/|"
    r"/latest/meta-data/",
    re.I,
)

# Names a glob may be after when it is aimed at secrets. A glob outside the working directory
# whose last part matches one of these (``.e*``, ``*.pem``, ``id_*``, ``*``) is treated as a read
# of that secret; generic globs (``*.json``, ``*.log``) are checked against the files on disk.
SECRET_NAME_SAMPLES = (
    ".env",
    ".env.local",
    ".env.production",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".pgpass",
    ".git-credentials",
    ".htpasswd",
    "server.key",
    "private.pem",
    "client.p12",
    "cert.pfx",
    "keystore.jks",
    "vault.kdbx",
    "credentials",
    "kubeconfig",
    "terraform.tfstate",
)
# Folders a recursive scan does not enter (no secrets expected, and huge).
_SCAN_SKIP = frozenset(
    {".git", "node_modules", "__pycache__", ".mypy_cache", ".pytest_cache", ".tox"}
)
# Below these, a file can be a secret by location, not only by name (scans look at each file).
_SCAN_SYSTEM = (
    "/etc/",
    "/var/",
    "/run/",
    "/root/",
    "/proc/",
    "/dev/",
    "/home/",
    "/Users/",
    "/srv/",
)

# Secret-looking file names: a secret when found outside the working directory.
_SECRET_NAME = LazyRegex(
    r"^(\.env(\..+)?|.*\.pem|.*\.key|id_(rsa|dsa|ecdsa|ed25519)(_sk)?(\..*)?|.*\.p12|.*\.pfx|.*\.jks|"
    r".*\.keystore|\.git-credentials|\.netrc|\.pgpass|credentials(\.json|\.toml)?|"
    r".*service[-_]account.*\.json|.*\.kdbx|.*\.ovpn|htpasswd|\.htpasswd|.*\.tfstate(\.backup)?|"
    r"secrets?\.(ya?ml|json|toml)|kubeconfig|"
    r"([\w.-]*[._-])?(passwords?|passwd|secrets?|credentials?|creds|api[_-]?keys?|access[_-]?keys?|tokens?|"
    r"private[_-]?keys?)([_-][\w-]*)?(\.(txt|json|ya?ml|csv|ini|conf|cfg|toml|xml|env|dat|db|gpg|asc|key|bak))?)$",
    re.I,
)
_SECRET_NAME_EXEMPT = LazyRegex(r"^\.env\.(example|sample|template|dist|defaults)$|\.pub$")
_PUBLIC_TREES = ("/usr/", "/etc/ssl/certs/", "/snap/", "/nix/store/", "/opt/conda/pkgs/")

# Relative to a home directory: writing there installs persistence (never allowed).
HOME_PERSISTENCE: tuple[str, ...] = (
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zshenv",
    ".zprofile",
    ".zlogin",
    ".zlogout",
    ".kshrc",
    ".cshrc",
    ".tcshrc",
    ".config/fish",
    ".inputrc",
    ".xinitrc",
    ".xprofile",
    ".xsession",
    ".xsessionrc",
    ".config/autostart",
    ".config/systemd",
    ".local/share/systemd",
    ".config/environment.d",
    ".pam_environment",
    ".ssh",
    ".gitconfig",
    ".config/git",
    ".vimrc",
    ".vim",
    ".config/nvim",
    ".emacs",
    ".emacs.d",
    ".tmux.conf",
    ".screenrc",
    ".local/bin",
    ".bin",
    "bin",
    ".npmrc",
    ".pip",
    ".config/pip",
    ".pydistutils.cfg",
    ".condarc",
    ".cargo/config",
    ".cargo/config.toml",
    ".cargo/bin",
    ".bun",
    ".deno",
    ".pyenv",
    ".nvm",
    ".rbenv",
    ".local/lib",
    ".config/direnv",
    ".direnvrc",
    ".curlrc",
    ".wgetrc",
    ".gnupg",
    ".mailcap",
    ".lesskey",
    ".config/procps",
    ".crontab",
    ".config/upstart",
    ".kde/Autostart",
    ".config/plasma-workspace",
    ".config/lxsession",
    ".claude",
    ".config/claude",
    ".mcp.json",
)
SYSTEM_PERSISTENCE: tuple[tuple[str, str], ...] = (
    ("/etc/ld.so.preload", "loader.ld_so_preload"),
    ("/etc/ld.so.conf", "loader.ld_so_conf"),
    ("/etc/ld.so.conf.d", "loader.ld_so_conf"),
    ("/etc/profile", "persistence.shell_rc"),
    ("/etc/profile.d", "persistence.shell_rc"),
    ("/etc/bash.bashrc", "persistence.shell_rc"),
    ("/etc/bashrc", "persistence.shell_rc"),
    ("/etc/zsh", "persistence.shell_rc"),
    ("/etc/environment", "persistence.shell_rc"),
    ("/etc/crontab", "persistence.cron"),
    ("/etc/cron.d", "persistence.cron"),
    ("/etc/cron.hourly", "persistence.cron"),
    ("/etc/cron.daily", "persistence.cron"),
    ("/etc/cron.weekly", "persistence.cron"),
    ("/etc/cron.monthly", "persistence.cron"),
    ("/var/spool/cron", "persistence.cron"),
    ("/etc/anacrontab", "persistence.cron"),
    ("/etc/systemd", "persistence.systemd"),
    ("/lib/systemd", "persistence.systemd"),
    ("/usr/lib/systemd", "persistence.systemd"),
    ("/run/systemd", "persistence.systemd"),
    ("/etc/init.d", "persistence.init"),
    ("/etc/rc.local", "persistence.init"),
    ("/etc/init", "persistence.init"),
    ("/etc/xdg/autostart", "persistence.autostart"),
    ("/etc/update-motd.d", "persistence.init"),
    ("/etc/passwd", "privilege.accounts"),
    ("/etc/group", "privilege.accounts"),
    ("/etc/sudoers", "privilege.sudoers"),
    ("/etc/sudoers.d", "privilege.sudoers"),
    ("/etc/pam.d", "privilege.pam"),
    ("/etc/security", "privilege.pam"),
    ("/etc/ssh", "persistence.ssh"),
    ("/etc/hosts", "system.hosts"),
    ("/etc/resolv.conf", "system.dns"),
    ("/etc/apt/sources.list", "system.packages"),
    ("/etc/apt/sources.list.d", "system.packages"),
    ("/etc/udev", "persistence.udev"),
    ("/etc/modules-load.d", "persistence.modules"),
    ("/etc/modprobe.d", "persistence.modules"),
    ("/etc/sysctl.conf", "system.sysctl"),
    ("/etc/sysctl.d", "system.sysctl"),
    ("/boot", "disk.boot"),
)
# Working directories where no write is allowed at all (system locations).
SYSTEM_DIRS: tuple[str, ...] = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib",
    "/var/spool",
    "/var/log",
    "/var/run",
    "/var/mail",
    "/var/cache",
    "/var/backups",
    "/snap",
)
# Raw disks and partitions: writing to them destroys a filesystem.
_DISK_DEVICE = LazyRegex(
    r"^/dev/(sd[a-z]+\d*|hd[a-z]+\d*|vd[a-z]+\d*|xvd[a-z]+\d*|nvme\d+(n\d+(p\d+)?)?|mmcblk\d+(p\d+)?|"
    r"md\d+|dm-\d+|loop\d+|sr\d+|disk/.*|mapper/.*|root|nbd\d+|zd\d+|rbd\d+|bcache\d+|ram\d+|[a-z]+/by-.*)$"
)
_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


def _real(path: str) -> str:
    return os.path.realpath(path)


def within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it (both already resolved)."""
    if root == "/":
        return path.startswith("/")
    return path == root or path.startswith(root + "/")


def _rel_parts(path: str, root: str) -> tuple[str, ...] | None:
    if not within(path, root):
        return None
    rest = path[len(root) :].strip("/")
    return tuple(p for p in rest.split("/") if p)


def _prefix_match(parts: tuple[str, ...], entries: Iterable[str]) -> str | None:
    for entry in entries:
        eparts = tuple(entry.split("/"))
        if parts[: len(eparts)] == eparts:
            return entry
    return None


def is_wild(part: str) -> bool:
    """Does this path component hold a glob wildcard?"""
    return any(ch in part for ch in "*?[")


def glob_fixed_parts(pattern: str) -> list[str]:
    """The parts of a glob before its first wildcard component (``/a/b*/c`` -> ``["", "a"]``):
    the fixed prefix the path rules apply to as to any path."""
    fixed = []
    for part in pattern.split("/"):
        if is_wild(part):
            break
        fixed.append(part)
    return fixed


@lru_cache(maxsize=4096)
def _part_matcher(part: str) -> Callable[[str], object]:
    """A compiled matcher for one glob component (as ``fnmatch.fnmatchcase``)."""
    if not is_wild(part):
        return part.__eq__
    return re.compile(fnmatch.translate(part)).match


_Target = tuple[str, tuple[str, ...]]  # a secret location and its parts


@lru_cache(maxsize=64)
def _secret_targets(
    homes: tuple[str, ...],
) -> tuple[tuple[_Target, ...], dict[str, tuple[_Target, ...]]]:
    """Every secret location a glob may reach, split into parts (once per set of homes), and
    the same grouped by first part."""
    targets = [f"{h}/{s}" for h in homes + ("/home/*", "/root") for s in HOME_SECRETS] + list(
        SYSTEM_SECRETS
    )
    every = tuple((t, tuple(p for p in t.split("/") if p)) for t in targets)
    by_first: dict[str, list[_Target]] = {}
    for target, parts in every:
        if parts:
            by_first.setdefault(parts[0], []).append((target, parts))
    return every, {k: tuple(v) for k, v in by_first.items()}


@record(frozen=True)
class Violation:
    """Why a path may not be written or read: a rule id and a sentence."""

    rule: str
    reason: str


@record(frozen=True)
class PathContext:
    """Everything the path rules need: the confinement root, the homes, the protected paths."""

    root: str  # realpath of the working directory
    homes: tuple[str, ...]  # realpaths: $HOME first, then the account's home
    protected: tuple[str, ...] = ()  # realpaths tools may never write
    home_raw: str = ""  # $HOME as given (for ~ expansion)
    _cache: dict[tuple[str, str | None], str] = field(
        default_factory=dict, compare=False, hash=False, repr=False
    )

    @classmethod
    def build(
        cls,
        cwd: str | os.PathLike[str],
        protected: Iterable[str | os.PathLike[str]] = (),
        environ: dict[str, str] | None = None,
    ) -> "PathContext":
        env = os.environ if environ is None else environ
        root = _real(os.path.abspath(os.fspath(cwd)))
        homes: list[str] = []
        home_env = env.get("HOME") or ""
        if home_env:
            homes.append(_real(home_env))
        try:
            account = pwd.getpwuid(os.getuid()).pw_dir
        except (KeyError, OSError):
            account = ""
        if account and _real(account) not in homes:
            homes.append(_real(account))
        if not homes:
            homes.append("/root" if os.getuid() == 0 else "/")
        prot = tuple(_real(os.path.abspath(os.fspath(p))) for p in protected)
        # A protected folder that holds the working directory itself (a project's output folder inside
        # the workspace) protects nothing the confinement to the working directory does not already.
        prot = tuple(p for p in prot if not (root == p or root.startswith(p.rstrip("/") + "/")))
        return cls(root=root, homes=tuple(homes), protected=prot, home_raw=home_env or homes[0])

    @property
    def home(self) -> str:
        return self.homes[0]

    # ---- resolution ------------------------------------------------------------------
    def expand_user(self, text: str) -> str | None:
        """``~``, ``~/x``, ``~user/x``, ``~+``; None when it cannot be known (``~-``)."""
        if not text.startswith("~"):
            return text
        head, sep, tail = text[1:].partition("/")
        if head == "":
            base = self.home_raw
        elif head == "+":
            base = self.root
        elif head == "-":
            return None
        else:
            try:
                base = pwd.getpwnam(head).pw_dir
            except KeyError:
                return text  # bash leaves an unknown ~user as it is
        return base + (sep + tail if sep else "")

    def resolve(self, text: str, cur_dir: str | None = None) -> str:
        """Resolve a path as the kernel would: relative to ``cur_dir``, symlinks followed."""
        key = (text, cur_dir)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        expanded = self.expand_user(text) if text.startswith("~") else text
        if expanded is None:
            expanded = text
        base = cur_dir or self.root
        joined = expanded if expanded.startswith("/") else os.path.join(base, expanded)
        try:
            out = _real(joined)
        except (OSError, ValueError):
            out = os.path.normpath(joined)
        if len(self._cache) < 4096:
            self._cache[key] = out
        return out

    def inside_root(self, real: str) -> bool:
        return within(real, self.root)

    # ---- classification --------------------------------------------------------------
    def secret(self, real: str, *, for_write: bool = False) -> str | None:
        """A sentence naming the secret location ``real`` is in, or None."""
        if real in SAFE_READ_DEVICES:
            return None
        if _DISK_DEVICE.match(real):
            return f"{real} is a raw disk: reading it reads every file, secrets included"
        if not for_write and real.endswith(".pub") and real.rsplit("/", 2)[-2:-1] == [".ssh"]:
            return None  # a public key may be read (e.g. to paste it into a forge)
        for home in self.homes:
            parts = _rel_parts(real, home)
            if parts:
                hit = _prefix_match(parts, HOME_SECRETS)
                if hit:
                    return f"~/{hit} holds credentials or private data"
        m = _OTHER_HOME.match(real)
        if m and len(real) > m.end():
            parts = tuple(p for p in real[m.end() :].split("/") if p)
            hit = _prefix_match(parts, HOME_SECRETS) if parts else None
            if hit:
                return f"{m.group(0)}/{hit} holds credentials or private data"
        for entry in SYSTEM_SECRETS:
            if within(real, entry):
                return f"{entry} holds credentials or private data"
        if _PROC_SECRET.match(real) and not re.match(r"^/proc/(self|thread-self)/fd(/|$)", real):
            return "process memory and environment under /proc hold secrets"
        if (
            not self.inside_root(real)
            and not real.startswith(_PUBLIC_TREES)
            and "/site-packages/" not in real
            and "/dist-packages/" not in real
        ):
            name = real.rsplit("/", 1)[-1]
            if _SECRET_NAME.match(name) and not _SECRET_NAME_EXEMPT.search(name):
                return f"{name} outside the working directory looks like a secret"
        return None

    def holds_secrets(self, real: str) -> bool:
        """True when ``real`` is a folder that contains a secret location (``~``, ``/etc``, ``/``)."""
        if self.secret(real):
            return True
        candidates = [f"{h}/{s}" for h in self.homes for s in HOME_SECRETS[:12]]
        candidates += list(SYSTEM_SECRETS) + ["/root", "/proc/1", "/home/_/.ssh", "/Users/_/.ssh"]
        return any(within(c, real) for c in candidates)

    def secret_pattern(self, pattern: str) -> str | None:
        """A glob (absolute, resolved prefix) that can match a secret location."""
        # Fixed leading part: the secret rules apply to it as to any path.
        fixed = glob_fixed_parts(pattern)
        prefix = "/".join(fixed) or "/"
        hit = self.secret(prefix)
        if hit:
            return hit
        if pattern.startswith("/proc/"):
            for sample in _PROC_SAMPLES:
                if fnmatch.fnmatchcase(sample, pattern):
                    return f"the pattern {pattern} can match {sample} (a process's environment or memory)"
        pparts = [p for p in pattern.split("/") if p]
        if not pparts:
            return None
        matchers = [_part_matcher(p) for p in pparts]
        every, by_first = _secret_targets(self.homes)
        # A literal first part ("tmp" of /tmp/x/*.py) can only match targets that start with it.
        candidates = every if any(ch in pparts[0] for ch in "*?[") else by_first.get(pparts[0], ())
        for target, tparts in candidates:
            n = min(len(pparts), len(tparts))
            # Every pattern part up to n must match the target's part (checked first to last:
            # nearly every target fails on its first part, "home" or "etc" against "tmp").
            if not all(matchers[i](tparts[i]) for i in range(n)):
                continue
            if len(pparts) <= len(tparts) or "**" in pattern or pparts[len(tparts) - 1] == "*":
                return f"the pattern {pattern} can match {target}"
            return f"the pattern {pattern} reaches into {target}"
        return None

    def secret_glob(self, pattern: str) -> str | None:
        """A glob outside the working directory aimed at secret-looking names, or None.

        ``pattern`` is absolute. Its last part is compared with SECRET_NAME_SAMPLES (``.e*``,
        ``*.pem``, ``id_*`` and ``*`` all match one); a literal last part must not look like a
        secret itself."""
        fixed = glob_fixed_parts(pattern)
        prefix = self.resolve("/".join(fixed) or "/")
        if self.inside_root(prefix) and ".." not in pattern.split("/")[len(fixed) :]:
            return None
        if (
            prefix.startswith(_PUBLIC_TREES)
            or "/site-packages/" in pattern
            or "/dist-packages/" in pattern
        ):
            return None
        leaf = pattern.rstrip("/").rsplit("/", 1)[-1]
        if not any(ch in leaf for ch in "*?["):
            if _SECRET_NAME.match(leaf) and not _SECRET_NAME_EXEMPT.search(leaf):
                return f"{leaf} outside the working directory looks like a secret"
            return None
        match = _part_matcher(leaf)
        for sample in SECRET_NAME_SAMPLES:
            if match(sample):
                return f"the pattern {leaf} outside the working directory can match secret files such as {sample}"
        return None

    def scan_secrets(
        self, real: str, *, follow_links: bool, limit: int = 2000, deadline: float | None = None
    ) -> tuple[str | None, bool]:
        """Look below the folder ``real`` for what a recursive read would expose.

        Returns (a sentence naming the first secret found or None, whether the scan was cut
        short). Outside the working directory every file is classified (``.env``, keys…); inside
        it only symlinks are (their targets, when the reader follows links). Public trees
        (``/usr``…) are not scanned."""
        import time as _time

        if real.startswith(_PUBLIC_TREES) or real in ("/usr",):
            return None, False
        inside = self.inside_root(real)
        if inside and not follow_links:
            return None, False
        if not os.path.isdir(real):
            return None, False
        budget = _time.monotonic() + 0.1  # a share of the check's time-out; cut short means "ask"
        deadline = budget if deadline is None else min(deadline, budget)
        stack = [real]
        seen = 0
        while stack:
            folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > limit or (
                    deadline is not None and seen % 64 == 0 and _time.monotonic() > deadline
                ):
                    return None, True
                path = entry.path
                try:
                    if entry.is_symlink():
                        if not follow_links:
                            continue
                        target = _real(path)
                        hit = self.secret(target)
                        if hit:
                            return f"{path} links to {target}: {hit}", False
                        if os.path.isdir(target) and not self.inside_root(target):
                            if self.holds_secrets(target):
                                return (
                                    f"{path} links to {target}, a folder holding credentials",
                                    False,
                                )
                            sub, cut = self.scan_secrets(
                                target, follow_links=False, limit=limit - seen, deadline=deadline
                            )
                            if sub or cut:
                                return sub, cut
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name not in _SCAN_SKIP:
                            stack.append(path)
                        continue
                except OSError:
                    continue
                if not inside and (_SECRET_NAME.match(entry.name) or path.startswith(_SCAN_SYSTEM)):
                    hit = self.secret(path)
                    if hit:
                        return f"{path}: {hit}", False
        return None, False

    def persistence(self, real: str) -> Violation | None:
        """Writing ``real`` would plant persistence (rc files, cron, git hooks, loader config)."""
        parts = tuple(p for p in real.split("/") if p)
        for i in range(len(parts) - 1):
            if parts[i] == ".git" and parts[i + 1] == "hooks":
                return Violation(
                    "persistence.git_hooks",
                    f"{real} is a git hook: code that runs on every git command",
                )
        if len(parts) >= 2 and parts[-2:] == (".git", "config"):
            return Violation(
                "persistence.git_config",
                f"{real} is a git config: it can run commands (core.hooksPath, core.fsmonitor)",
            )
        for home in self.homes:
            rel = _rel_parts(real, home)
            if rel:
                hit = _prefix_match(rel, HOME_PERSISTENCE)
                # Allowed only when the user works inside that very folder (e.g. ~/.config/nvim).
                if hit and not (self.inside_root(real) and within(self.root, f"{home}/{hit}")):
                    rule = (
                        "persistence.shell_rc"
                        if hit.startswith(
                            (
                                ".bash",
                                ".zsh",
                                ".profile",
                                ".ksh",
                                ".csh",
                                ".tcsh",
                                ".config/fish",
                                ".inputrc",
                            )
                        )
                        else "persistence.ssh"
                        if hit == ".ssh"
                        else "persistence.home_config"
                    )
                    return Violation(
                        rule, f"~/{hit} runs at login or on every command (persistence)"
                    )
        for entry, rule in SYSTEM_PERSISTENCE:
            if within(real, entry):
                return Violation(
                    rule, f"{entry} is a system location that runs code or grants access"
                )
        return None

    def write_violation(
        self, text: str, real: str | None = None, *, verb: str = "write"
    ) -> Violation | None:
        """Why writing the path ``text`` (already resolved as ``real``) is not allowed, or None."""
        if text in SAFE_WRITE_DEVICES:
            return None
        if real is None:
            real = self.resolve(text)
        if real in SAFE_WRITE_DEVICES or re.match(r"^/dev/fd/\d+$|^/proc/self/fd/\d+$", text):
            return None
        if _DISK_DEVICE.match(real) or _DISK_DEVICE.match(text):
            return Violation(
                "disk.raw_device_write", f"{verb} to the disk device {text} destroys a filesystem"
            )
        if (
            real.startswith("/dev/tcp/")
            or real.startswith("/dev/udp/")
            or text.startswith(("/dev/tcp/", "/dev/udp/"))
        ):
            return Violation("network.dev_tcp", f"{text} opens a network connection from the shell")
        for prot in self.protected:
            if within(real, prot):
                return Violation(
                    "write.protected_workspace_state",
                    f"{real} is inside the llmos workspace (its state, agents, volumes and "
                    f"config); tools may not change it",
                )
        secret = self.secret(real, for_write=True)
        if secret:
            return Violation(
                "write.secret_location",
                f"{verb} {'of' if 'delete' in verb else 'to'} {real}: {secret}",
            )
        pers = self.persistence(real)
        if pers:
            return pers
        if real.startswith("/dev/") or real.startswith("/proc/") or real.startswith("/sys/"):
            return Violation("write.device", f"{verb} to {real} changes a device or kernel setting")
        if self.root == "/" or any(within(self.root, d) for d in SYSTEM_DIRS):
            return Violation(
                "write.system_cwd",
                f"the working directory {self.root} is a system location; no writes there",
            )
        if not self.inside_root(real):
            where = (
                "a shared temporary folder"
                if any(within(real, t) for t in _TMP_DIRS)
                else "the home directory"
                if any(within(real, h) for h in self.homes)
                else "the system"
            )
            prep = "of" if "delete" in verb else "to"
            return Violation(
                "write.outside_cwd",
                f"{verb} {prep} {real} is outside the working directory {self.root} ({where})",
            )
        for home in self.homes:
            if within(home, self.root):
                rel = _rel_parts(real, home)
                if rel and rel[0].startswith("."):
                    return Violation(
                        "write.home_dotfile",
                        f"{verb} to {real}: dot-files in the home directory configure programs",
                    )
        return None

    def delete_violation(
        self, text: str, real: str | None = None, *, recursive: bool = False
    ) -> Violation | None:
        """Why deleting ``text`` is not allowed: the write rules, plus what it contains."""
        if real is None:
            real = self.resolve(text)
        verb = "recursive delete" if recursive else "delete"
        if text in SAFE_WRITE_DEVICES or real in SAFE_WRITE_DEVICES:
            return Violation("write.device", f"{verb} of the device {text}")
        if real in ("/",) or real in self.homes or any(within(h, real) for h in self.homes):
            rule = "shell.recursive_delete_outside_cwd" if recursive else "write.outside_cwd"
            return Violation(
                rule, f"{verb} of {real} destroys the home directory or the whole filesystem"
            )
        for prot in self.protected:
            if within(prot, real):
                return Violation(
                    "write.protected_workspace_state",
                    f"{verb} of {real} removes part of the llmos workspace",
                )
        found = self.write_violation(text, real, verb=verb)
        if found is not None:
            if recursive and found.rule == "write.outside_cwd":
                return Violation("shell.recursive_delete_outside_cwd", found.reason)
            return found
        if real == self.root and (self.root in self.homes or self.root.count("/") <= 1):
            return Violation(
                "shell.recursive_delete_outside_cwd",
                f"{verb} of the working directory {real} itself",
            )
        return None

    def is_tmp(self, real: str) -> bool:
        """In a shared temporary folder (a home directory that happens to live there does not count)."""
        return any(within(real, t) for t in _TMP_DIRS) and not any(
            within(real, h) for h in self.homes
        )
