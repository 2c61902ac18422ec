"""The app's login accounts: a users file with salted scrypt password hashes and a role each.

One account per line, `name:role:scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>:id`; lines starting with
`#` are comments. The id is made when the account is added and kept through password and role
changes: a person's data belongs to it, so an account removed and added again under the same name
starts with nothing of its namesake's (a line without one, from before ids, has its name as id). Roles: `operator` (may publish and withdraw recordings for every visitor, and
run the team's tools) and `visitor` (a login of their own: their recordings are theirs alone).
The file is `$AVATAR_USERS`, else `<cache>/accounts/users` (private: never served); it is read
again whenever it changes, so accounts added or removed with `avatar users` take effect at the
next login without a restart. Written atomically, readable by its owner only.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from avatar.config import Deployment
from avatar.errors import UserError, quoted
from avatar.paths import atomic_write, writable_dir

ROLES = ("operator", "visitor")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # longer is refused, never hashed
# scrypt at 16 MiB and ~50 ms a try here: slow enough to make guessing a stolen file expensive.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
log = logging.getLogger(__name__)


def users_file() -> Path:
    """This deployment's users file: `$AVATAR_USERS`, else `<cache>/accounts/users`."""
    return Deployment.from_env().users_file


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT["n"], r: int = SCRYPT["r"],
                  p: int = SCRYPT["p"]) -> str:
    """The stored form of `password`: `scrypt$n$r$p$salt$hash` (hex)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024**2, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored` (compared in constant time)."""
    try:
        kind, n, r, p, salt, expected = stored.split("$")
        if kind != "scrypt":
            return False
        return hmac.compare_digest(hash_password(password, bytes.fromhex(salt), int(n), int(r), int(p)),
                                   stored)
    except ValueError:  # a malformed hash matches nothing
        return False


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: str
    id: str  # whose data it is (see the module docstring)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name or ""):
        raise UserError(f"{quoted(name)} is not a usable account name: 1-64 letters, digits, '.', '_', '@' or '-', "
                        "starting with a letter or digit.")
    return name


def parse_users(text: str, source: str = "the users file") -> dict[str, Account]:
    """Accounts by name from a users file's text; a malformed line is refused with its number."""
    accounts: dict[str, Account] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) == 3:  # from before ids
            parts.append(parts[0])
        if len(parts) != 4 or parts[1] not in ROLES or not NAME.fullmatch(parts[0]) or \
                not parts[2].startswith("scrypt$") or not NAME.fullmatch(parts[3]):
            raise UserError(f"{source} line {number} is not `name:operator|visitor:scrypt$...:id`; "
                            "fix or remove it (`avatar users remove NAME`).")
        if parts[0] in accounts:
            raise UserError(f"{source} line {number}: account {parts[0]!r} is listed twice.")
        accounts[parts[0]] = Account(*parts)
    return accounts


class Users:
    """The accounts in one users file, re-read when the file changes."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else users_file()
        self._seen: tuple | None = None
        self._accounts: dict[str, Account] = {}
        self.throttle = LoginThrottle()  # the app's login door counts failures here
        self._logged: str | None = None  # the damage last logged

    def accounts(self) -> dict[str, Account]:
        """Accounts by name ({} when the file does not exist)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._accounts = None, {}
            return {}
        except OSError as error:
            raise UserError(f"cannot read the users file {self.path}: {error.strerror or error}.") from None
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if seen != self._seen:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise UserError(f"cannot read the users file {self.path}: {error}.") from None
            self._accounts, self._seen = parse_users(text, str(self.path)), seen
        return self._accounts

    def login(self, name: str, password: str) -> bool:
        """Gradio's auth callback: whether `name` and `password` match an account. Unknown names
        take as long as known ones (no hint which names exist)."""
        try:
            account = self.accounts().get(name)
        except UserError as error:  # damaged since the app started: nobody logs in until it is fixed
            log.error("login refused: %s", error)
            return False
        stored = account.password_hash if account else _decoy()
        return len(password) <= MAX_PASSWORD and password_matches(password, stored) and account is not None

    def role(self, name: str | None) -> str | None:
        """`name`'s role, None for no login, an account since removed, or a users file damaged
        since the app started (logged: nobody has a role until it is fixed)."""
        account = self.account(name)
        return account.role if account else None

    def problem(self) -> str | None:
        """What is wrong with the users file, None when it reads (or does not exist)."""
        try:
            self.accounts()
        except UserError as error:
            return str(error)
        return None

    def account(self, name: str | None) -> Account | None:
        """`name`'s account as the users file holds it now; None for none, or a damaged file (logged)."""
        if not name:
            return None
        try:
            return self.accounts().get(name)
        except UserError as error:
            if str(error) != self._logged:  # once per damage, not once per request
                log.error("%s", error)
                self._logged = str(error)
            return None

    def is_operator(self, name: str | None) -> bool:
        return self.role(name) == "operator"

    def add(self, name: str, password: str, role: str) -> bool:
        """Add `name` (or replace its password and role); True when it was new."""
        check_name(name)
        if role not in ROLES:
            raise UserError(f"the role is one of {', '.join(ROLES)}, not {quoted(role)}.")
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise UserError(f"a password has at least {MIN_PASSWORD} characters and at most {MAX_PASSWORD}.")
        accounts = dict(self.accounts())
        new = name not in accounts
        kept = accounts[name].id if not new else f"acct-{secrets.token_hex(8)}"
        accounts[name] = Account(name, role, hash_password(password), kept)
        self._write(accounts)
        return new

    def remove(self, name: str) -> bool:
        """Remove `name`; False when there was no such account."""
        accounts = dict(self.accounts())
        if accounts.pop(name, None) is None:
            return False
        self._write(accounts)
        return True

    def _write(self, accounts: dict[str, Account]) -> None:
        writable_dir(self.path.parent, "accounts folder")
        lines = ["# Avatar app accounts: name:role:password hash:id (manage with `avatar users`)"]
        lines += [f"{a.name}:{a.role}:{a.password_hash}:{a.id}" for a in sorted(accounts.values(), key=lambda a: a.name)]
        atomic_write(self.path, "\n".join(lines) + "\n", mode=0o600)


class LoginThrottle:
    """Failed logins counted per account name and per client address: after `free` failures in a
    row, each further try waits twice as long as the one before (1 s, 2 s, 4 s ... up to `most`),
    right password or not; a success clears both counts. Names that do not exist count alike
    (no hint which exist). Thread-safe."""

    def __init__(self, free: int = 5, first: float = 1.0, most: float = 300.0, clock=time.monotonic):
        self.free, self.first, self.most, self.clock = free, first, most, clock
        self._failures: dict[str, tuple[int, float]] = {}  # key: (failures in a row, time of the last)
        self._lock = threading.Lock()

    def wait(self, name: str, address: str) -> float:
        """Seconds before `name` may try again from `address` (0: now)."""
        with self._lock:
            return max(self._wait(f"name:{name}"), self._wait(f"address:{address}"))

    def _wait(self, key: str) -> float:
        count, last = self._failures.get(key, (0, 0.0))
        if count < self.free:
            return 0.0
        return max(0.0, last + min(self.most, self.first * 2 ** (count - self.free)) - self.clock())

    def failed(self, name: str, address: str) -> int:
        """Count a failed try; returns the failures in a row for `name`."""
        with self._lock:
            now = self.clock()
            for key in (f"name:{name}", f"address:{address}"):
                self._failures[key] = (self._failures.get(key, (0, 0.0))[0] + 1, now)
            if len(self._failures) > 100_000:  # a flood of made-up names: forget the oldest half
                for key in sorted(self._failures, key=lambda k: self._failures[k][1])[:50_000]:
                    del self._failures[key]
            return self._failures[f"name:{name}"][0]

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(f"name:{name}", None)
            self._failures.pop(f"address:{address}", None)


class SingleLogin:
    """The `--auth USER:PASSWORD` shortcut: one operator account, given on the command line."""

    def __init__(self, name: str, password: str):
        self.name, self._hash = name, hash_password(password)
        self.throttle = LoginThrottle()

    def login(self, name: str, password: str) -> bool:
        return password_matches(password, self._hash) and hmac.compare_digest(name.encode(), self.name.encode())

    def role(self, name: str | None) -> str | None:
        return "operator" if name == self.name else None

    def account(self, name: str | None) -> Account | None:
        return Account(self.name, "operator", self._hash, self.name) if name == self.name else None

    def problem(self) -> str | None:
        return None

    def is_operator(self, name: str | None) -> bool:
        return self.role(name) == "operator"


@functools.cache
def _decoy() -> str:
    """A hash no password matches, checked for unknown names."""
    return hash_password(secrets.token_hex(16))
