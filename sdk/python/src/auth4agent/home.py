"""The `auth4agent` CLI's home, read as the CLI writes it (cli/src/home.rs): `agent.json` (domain, server, did,
thumbprint, optional operator_id and issuer) and `keys/agent.key` (PKCS#8 PEM, no access for group or others).
The home is `home=`, else `$AUTH4AGENT_HOME`, else `~/.auth4agent`; a profile (`profile=`, else
`$AUTH4AGENT_PROFILE`) is the home `<root>/profiles/NAME/`."""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import HomeError
from .keys import SigningKey

_PROFILE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_profile(name: str) -> str:
    """1 to 64 letters, digits, `-`, `_` or `.`, not starting with `.` (the CLI's rule)."""
    if not _PROFILE.fullmatch(name) or name.startswith("."):
        raise HomeError(
            "invalid_profile",
            f"invalid profile name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.', not starting with '.'",
        )
    return name


def resolve(home: str | os.PathLike[str] | None = None, profile: str | None = None) -> Path:
    """The home directory the CLI would use for these options."""
    if home is not None:
        root = Path(home)
    elif os.environ.get("AUTH4AGENT_HOME"):
        root = Path(os.environ["AUTH4AGENT_HOME"])
    else:
        user = os.environ.get("HOME")
        if not user:
            raise HomeError("no_home_directory", "cannot find a home directory: $HOME is not set")
        root = Path(user) / ".auth4agent"
    if profile is None and os.environ.get("AUTH4AGENT_PROFILE"):
        profile = os.environ["AUTH4AGENT_PROFILE"]
    if profile is not None:
        return root / "profiles" / check_profile(profile)
    return root


@dataclass(frozen=True)
class AgentIdentity:
    """`agent.json`."""

    domain: str
    server: str
    did: str
    thumbprint: str
    operator_id: str | None = None
    issuer: str | None = None


def _private(path: Path, what: str) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise HomeError(
            "key_permissions_too_open",
            f"permissions {mode:04o} for the {what} '{path}' are too open: others could read or replace the key",
        )


def load_agent(root: Path) -> tuple[AgentIdentity, SigningKey]:
    """The agent identity and its key, checked as the CLI checks them."""
    path = root / "agent.json"
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise HomeError("no_agent", f"no agent identity at '{path}': run `auth4agent init --domain …`") from None
    except (OSError, ValueError) as e:
        raise HomeError("invalid_home", f"'{path}': {e}") from None
    try:
        identity = AgentIdentity(
            domain=doc["domain"],
            server=doc["server"],
            did=doc["did"],
            thumbprint=doc["thumbprint"],
            operator_id=doc.get("operator_id"),
            issuer=doc.get("issuer"),
        )
    except (KeyError, TypeError) as e:
        raise HomeError("invalid_home", f"'{path}' lacks {e}") from None
    key_path = root / "keys" / "agent.key"
    if not key_path.is_file():
        raise HomeError("no_agent_key", f"no agent key at '{key_path}'")
    _private(key_path.parent, "key directory")
    _private(key_path, "key file")
    key = SigningKey.from_pkcs8_pem(key_path.read_bytes())
    if key.thumbprint() != identity.thumbprint:
        raise HomeError(
            "key_mismatch",
            f"the key in '{key_path}' (thumbprint {key.thumbprint()}) is not the one in agent.json "
            f"({identity.thumbprint})",
        )
    return identity, key
