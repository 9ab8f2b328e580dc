"""Settings the web login needs, kept free of Streamlit.

The cookie key signs the re-login cookie that streamlit-authenticator sets.
It comes from ``cookie_key`` in ``.streamlit/secrets.toml`` or the
``AIHUB_COOKIE_KEY`` environment variable. Outside demo mode the app refuses
to start with no key or with the library's placeholder; in demo mode a key
is generated once into the data folder.
"""

from __future__ import annotations

import os

from aihub.config import Settings
from aihub.errors import ValidationError

#: Keys that are examples, not secrets (the library's default and README sample).
PLACEHOLDER_KEYS = frozenset({"", "some_key", "some_signature_key", "random_signature_key", "change-me"})
COOKIE_NAME = "aihub_auth"
COOKIE_EXPIRY_DAYS = 7.0


def cookie_key(settings: Settings, secrets_value: str | None = None) -> str:
    """The cookie-signing key to use.

    Parameters
    ----------
    settings : Settings
    secrets_value : str, optional
        ``cookie_key`` from Streamlit secrets, if any.

    Raises
    ------
    ValidationError
        Outside demo mode, when the key is missing, a placeholder or shorter than 32 characters.
    """
    key = secrets_value or os.environ.get("AIHUB_COOKIE_KEY", "")
    if key and key not in PLACEHOLDER_KEYS and len(key) >= 32:
        return key
    if settings.demo:
        return settings.secret_file("cookie_key").decode()
    raise ValidationError(
        "No usable cookie key: set AIHUB_COOKIE_KEY or cookie_key in .streamlit/secrets.toml to a random "
        "string of at least 32 characters (for example the output of "
        "`python -c 'import secrets; print(secrets.token_hex(32))'`), or run in demo mode with AIHUB_DEMO=1.",
        field="cookie_key",
    )


def credentials(directory: dict) -> dict:
    """streamlit-authenticator's credentials dict from :func:`aihub.auth.login_directory`."""
    return {
        "usernames": {
            u: {"email": e.email, "first_name": e.name, "last_name": "", "password": e.password_hash,
                "roles": [e.role]}
            for u, e in directory.items()
        }
    }
