"""Encrypt source credentials at rest, and keep them out of the UI and logs.

Credentials are encrypted with Fernet from the ``cryptography`` package
(AES-128-CBC with an HMAC-SHA256 tag; a token is authenticated, timestamped
and url-safe base64 text). The key never goes into the database: it comes from
the environment variable ``AIHUB_SECRET_KEY`` or from a key file the caller
names (for instance under ``AIHUB_DATA_DIR``). A database dump alone therefore
reveals no credential.

Key rotation: ``AIHUB_SECRET_KEY`` (or the key file, one key per line) may hold
several keys, newest first, separated by commas. Tokens are written with the
first and read with any (:class:`cryptography.fernet.MultiFernet`);
:meth:`SecretBox.rotate` re-encrypts a stored token with the newest key.

Typical use by the service layer::

    config, new = split_secrets(form_json)              # aihub.connectors.config
    box = SecretBox.from_env(settings.data_dir / "secret.key", create=True)
    stored = box.encrypt({**box.decrypt(old_token), **new}) if old_token else box.encrypt(new)
    ...
    table = read_source(config, box.decrypt(stored))
    log.info("source %s", redact(config.to_dict()))

Generate a key with ``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from aihub.connectors.config_auth import AUTH_TYPES
from aihub.connectors.config_base import MASK, SourcePart
from aihub.errors import ConnectorError, ValidationError

#: Environment variable holding the Fernet key(s), newest first, comma-separated.
KEY_ENV = "AIHUB_SECRET_KEY"

_SECRETISH_RE = re.compile(
    r"pass(word|wd)?|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|account[_\-]?key|"
    r"authorization|credential|cookie|signature|sas_token|connection[_\-]?string|session",
    re.IGNORECASE,
)
#: Paths of Unix sockets on the hub's machine: ``?host=/path`` / ``unix_socket=/path`` in URLs, and
#: libpq's ``socket "/path/.s.PGSQL.5432"`` in error text. Server paths are not shown to users.
_SOCKET_PARAM_RE = re.compile(r"(?P<head>[?&](?:host|unix_socket)=)(?P<value>[/@%][^&\s#]*)", re.IGNORECASE)
_SOCKET_PATH_RE = re.compile(r"(?P<q>[\"'])[^\"'\s]*/\.s\.PGSQL\.\d+(?P=q)")
_PUBLIC_KEYS = frozenset({"token_url", "client_auth", "token_type", "cursor_param", "cursor_path"})
_URL_PASSWORD_RE = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)(?P<pw>[^@/\s]+)(?P<at>@)")
_QUERY_SECRET_RE = re.compile(
    r"(?P<head>[?&;](?:[^=&\s#]*?(?:key|token|secret|password|passwd|pwd|sig|signature|auth|credential)"
    r"[^=&\s#]*)=)(?P<value>[^&\s#]+)",
    re.IGNORECASE,
)


def generate_key() -> str:
    """A new random Fernet key (32 bytes, url-safe base64, 44 characters)."""
    return Fernet.generate_key().decode("ascii")


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = [k.strip() for k in re.split(r"[,\s]+", text) if k.strip()]
    if not keys:
        raise ValidationError(
            f"{where} holds no key. Set it to a Fernet key made with "
            "`python -c \"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"`.",
            field=KEY_ENV,
            details={"where": where},
        )
    out = []
    for i, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValidationError(
                f"Key {i} of {where} is not a Fernet key (44 characters of url-safe base64 encoding 32 bytes). "
                "Make one with `python -c \"from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())\"`.",
                field=KEY_ENV,
                details={"where": where, "position": i, "length": len(key)},
            ) from None
        out.append(key.encode("ascii"))
    return out


def load_keys(key_file: str | os.PathLike | None = None, *, create: bool = False) -> list[bytes]:
    """Read the Fernet key(s), newest first.

    Parameters
    ----------
    key_file : path, optional
        Used when ``AIHUB_SECRET_KEY`` is unset or blank: a text file with one
        key per line (or comma-separated), newest first.
    create : bool, default False
        Create ``key_file`` with a new key (mode 0600) if it does not exist.

    Returns
    -------
    list of bytes
        At least one key.

    Raises
    ------
    ValidationError
        No key is configured (``field`` is ``AIHUB_SECRET_KEY``), or a key is
        malformed. Messages never contain key material.
    """
    env = os.environ.get(KEY_ENV, "")
    if env.strip():
        return _parse_keys(env, f"the environment variable {KEY_ENV}")
    if key_file is None:
        raise ValidationError(
            f"No encryption key for source credentials: set {KEY_ENV} to a Fernet key (keep it outside the "
            "database), or let the hub keep one in a key file.",
            field=KEY_ENV,
        )
    path = Path(key_file)
    if not path.exists():
        if not create:
            raise ValidationError(
                f"The key file {path} for source credentials does not exist. Restore it from your backup, or set "
                f"{KEY_ENV}. Without the key, stored credentials cannot be read and must be entered again.",
                field=KEY_ENV,
                details={"path": str(path)},
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(generate_key() + "\n")
    return _parse_keys(path.read_text(encoding="ascii", errors="replace"), f"the key file {path}")


class SecretBox:
    """Encrypts and decrypts a source's secrets dict as one Fernet token.

    Parameters
    ----------
    keys : sequence of bytes or str
        Fernet keys, newest first; the first encrypts.

    Raises
    ------
    ValidationError
        ``keys`` is empty or holds a malformed key.
    """

    def __init__(self, keys: Sequence[bytes | str]) -> None:
        if isinstance(keys, (bytes, str)):
            keys = [keys]
        text = ",".join(k.decode("ascii", "replace") if isinstance(k, bytes) else str(k) for k in keys)
        self._fernet = MultiFernet([Fernet(k) for k in _parse_keys(text, "the given keys")])

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    @classmethod
    def from_env(cls, key_file: str | os.PathLike | None = None, *, create: bool = False) -> SecretBox:
        """A box with the keys of :func:`load_keys`."""
        return cls(load_keys(key_file, create=create))

    def encrypt(self, secrets: Mapping[str, Any]) -> str:
        """Encrypt a secrets dict (JSON-able values) into a token to store.

        Returns
        -------
        str
            Fernet token (ASCII); a fresh random IV makes each call differ.

        Raises
        ------
        ValidationError
            ``secrets`` is not a mapping with text keys and JSON values.
        """
        if not isinstance(secrets, Mapping) or not all(isinstance(k, str) for k in secrets):
            raise ValidationError("Secrets must be a mapping with text keys.", field="secrets")
        try:
            payload = json.dumps(dict(secrets), sort_keys=True, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError):
            raise ValidationError("Secret values must be text, numbers, true/false, lists or objects.",
                                  field="secrets") from None
        return self._fernet.encrypt(payload).decode("ascii")

    def decrypt(self, token: str | bytes, *, source: str | None = None) -> dict[str, Any]:
        """Decrypt a stored token back into the secrets dict.

        Parameters
        ----------
        token : str or bytes
        source : str, optional
            Source name for the message.

        Raises
        ------
        ConnectorError
            Kind ``auth``, code ``secret_undecryptable``: the token was made with
            another key (the key changed or was lost) or was altered.
        """
        raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
        try:
            data = json.loads(self._fernet.decrypt(raw).decode("utf-8"))
        except (InvalidToken, ValueError, TypeError):
            who = f"source {source!r}" if source else "this source"
            raise ConnectorError(
                f"The stored credentials of {who} cannot be decrypted with the current {KEY_ENV}: the key changed, "
                "was lost, or the stored value was altered. Put the previous key after the new one "
                f"({KEY_ENV}=new,old) or enter the credentials again.",
                kind="auth",
                code="secret_undecryptable",
                details={"source": source},
            ) from None
        if not isinstance(data, dict):
            raise ConnectorError("The stored credentials are not a secrets object; enter them again.",
                                 kind="auth", code="secret_undecryptable", details={"source": source})
        return data

    def rotate(self, token: str | bytes) -> str:
        """Re-encrypt ``token`` with the newest key (after adding a key in front)."""
        raw = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
        try:
            return self._fernet.rotate(raw).decode("ascii")
        except InvalidToken:
            raise ConnectorError(
                f"A stored credential cannot be decrypted with any key in {KEY_ENV}; it cannot be rotated.",
                kind="auth",
                code="secret_undecryptable",
            ) from None


# ---------------------------------------------------------------------------
# redaction
# ---------------------------------------------------------------------------


def secret_values(secrets: Mapping[str, Any] | None) -> list[str]:
    """Every text leaf of ``secrets`` (nested values included), longest first."""
    out: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str):
            if v and v != MASK:
                out.append(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and len(str(v)) >= 6:
            out.append(str(v))

    walk(secrets or {})
    return sorted(set(out), key=len, reverse=True)


def scrub(text: str, secrets: Mapping[str, Any] | None = None) -> str:
    """Mask secrets inside free text (error messages, log lines).

    Replaces every secret value, URL passwords (``scheme://user:pw@host``),
    Unix-socket paths of the hub's machine (``?host=/path``, libpq's
    ``socket "/path/.s.PGSQL.5432"``) and the values of secret-looking query
    parameters (``?api_key=...``, ``&sig=...``) with
    :data:`~aihub.connectors.config_base.MASK`.
    """
    if not isinstance(text, str):
        text = str(text)
    for value in secret_values(secrets):
        text = text.replace(value, MASK)
    text = _URL_PASSWORD_RE.sub(lambda m: m.group("head") + MASK + m.group("at"), text)
    text = _SOCKET_PARAM_RE.sub(lambda m: m.group("head") + MASK, text)
    text = _SOCKET_PATH_RE.sub(lambda m: m.group("q") + MASK + m.group("q"), text)
    return _QUERY_SECRET_RE.sub(lambda m: m.group("head") + MASK, text)


def _secretish(key: str) -> bool:
    low = key.lower()
    if low in _PUBLIC_KEYS:
        return False
    return low == "key" or low.endswith("_key") or bool(_SECRETISH_RE.search(low))


def redact(config: Any, secrets: Mapping[str, Any] | None = None) -> Any:
    """A copy of a configuration that is safe to show or log.

    Parameters
    ----------
    config : SourceConfig, mapping, list or str
        A source configuration (JSON shape, possibly still holding inline
        secrets), or any nested JSON-like value.
    secrets : mapping, optional
        Known secret values to mask wherever they appear.

    Returns
    -------
    Same shape as ``config`` (a :class:`SourceConfig` becomes its dict)
        In ``authentication_config`` every value is masked except ``type``
        and the public keys of that type (``username``, ``header``,
        ``token_url``, ``client_id``, ...). Elsewhere, values under
        secret-looking keys (``password``, ``token``, ``api_key``, ``secret``,
        ``authorization``, ``key``, ...), URL passwords, secret-looking query
        parameters and the given secret values are masked with ``MASK``.
        Empty and null values stay as they are, so the form can tell
        "not set" from "set".
    """
    if isinstance(config, SourcePart):
        config = config.to_dict()
    values = secret_values(secrets)

    def text(v: str) -> str:
        for s in values:
            v = v.replace(s, MASK)
        return scrub(v)

    def walk(v: Any, key: str | None, in_auth: dict | None) -> Any:
        if isinstance(v, Mapping):
            if key == "authentication_config":
                return _auth(v)
            return {k: walk(x, str(k), None) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, key, None) for x in v]
        if key is not None and _secretish(key) and v not in (None, ""):
            return MASK
        if isinstance(v, str):
            return text(v)
        return v

    def _auth(auth: Mapping) -> dict:
        kind = auth.get("type")
        public: set[str] = {"type"}
        for types in AUTH_TYPES.values():
            spec = types.get(kind) if isinstance(kind, str) else None
            if spec is not None and spec.secrets != ("*",):
                public |= set(spec.required) | set(spec.optional)
        out = {}
        for k, x in auth.items():
            if k in public and not isinstance(x, (Mapping, list, tuple)):
                out[k] = text(x) if isinstance(x, str) else x
            else:
                out[k] = x if x in (None, "") else MASK
        return out

    return walk(config, None, None)
