"""Where a source's credentials go, and when stored credentials may be kept on an edit.

Editing a source with its secrets left blank (or still masked) keeps the
stored secrets: convenient for renaming a source or changing its query. But
if the edit also changes *where* the source connects, the stored token or
password would be sent to the new place, possibly a host the editor controls,
without the editor ever seeing it. So an edit that changes any field deciding
the destination must come with the secrets again (:func:`carry_over_secrets`).

Fields that decide the destination (:func:`destination`):

==================  =====================================================================
source type         fields
==================  =====================================================================
database            the whole URL (host, port, database, user, query parameters), the
                    user name and the authentication type
rest_api            ``base_url``, ``verify_tls``, the authentication type and its
                    non-secret settings (``header``, ``param``, ``token_url``, ...)
object_storage      the URL's protocol and bucket/container, every storage option, the
                    authentication type
==================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aihub.connectors.config import MASK, SourceConfig
from aihub.errors import ValidationError


def destination(config: SourceConfig) -> dict[str, Any]:
    """The fields of ``config`` that decide where its credentials are sent, by dotted name."""
    conn = config.connection_config
    out: dict[str, Any] = {"source_type": config.source_type, "authentication_config.type": config.auth.type}
    out.update({f"authentication_config.{k}": v for k, v in config.auth.params.items()})
    if config.source_type == "database":
        out["connection_config.url"] = conn["url"]
    elif config.source_type == "rest_api":
        out["connection_config.base_url"] = conn["base_url"]
        out["connection_config.verify_tls"] = conn["verify_tls"]
    elif config.source_type == "object_storage":
        url = conn["url"]
        scheme, _, rest = url.partition("://")
        out["connection_config.url"] = (scheme.lower(), rest.split("/", 1)[0]) if rest else ("file", "")
        out["connection_config.storage_options"] = conn["storage_options"]
    return out


def destination_changes(old: SourceConfig, new: SourceConfig) -> list[str]:
    """Dotted names of the destination fields that differ between ``old`` and ``new``."""
    before, after = destination(old), destination(new)
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def carry_over_secrets(old: SourceConfig, old_secrets: Mapping[str, Any], new: SourceConfig,
                       new_secrets: Mapping[str, Any]) -> dict[str, Any]:
    """The secrets to store for an edited source.

    Parameters
    ----------
    old, old_secrets
        The stored configuration and its decrypted secrets.
    new, new_secrets
        The edited configuration and the secrets typed with it (blank and
        masked ones already left out by :func:`~aihub.connectors.split_secrets`).

    Returns
    -------
    dict
        ``{**old_secrets, **new_secrets}`` when the destination is unchanged;
        only ``new_secrets`` when it changed.

    Raises
    ------
    ValidationError
        The destination changed and a secret the new configuration needs was
        not typed again; ``field`` is that secret (``authentication_config.token``)
        and the message names the changed field.
    """
    fresh = {k: v for k, v in new_secrets.items() if v not in (None, "", MASK)}
    changed = destination_changes(old, new)
    if not changed:
        return {**dict(old_secrets), **fresh}
    spec = new.auth.spec(new.source_type)
    missing = [k for k in spec.required_secrets if k not in fresh]
    if missing:
        raise ValidationError(
            f"Source {new.source_name!r}: you changed {changed[0]}, which decides where the source's credentials "
            f"are sent, so the stored {missing[0]} is not kept. Enter the {missing[0]} again to save the change.",
            field=f"authentication_config.{missing[0]}",
            details={"source": new.source_name, "changed": changed, "missing": missing},
        )
    return fresh
