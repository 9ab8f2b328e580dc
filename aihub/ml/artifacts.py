"""Signed, size-capped model artifacts.

Format (version 1), all integers big-endian::

    MAGIC (12 bytes b"AIHUB-MODEL\\n") | version (1 byte) |
    header length (4 bytes) | header (UTF-8 JSON) | payload (skops zip) |
    HMAC-SHA256 tag (32 bytes) over everything before it

The header holds ``{"format", "format_version", "payload_sha256",
"payload_bytes", "metadata"}`` where ``metadata`` is
:meth:`TrainedModel.to_metadata` (config, feature schema, metrics, versions,
background sample...). The payload is the scikit-learn pipeline serialised
with ``skops.io.dumps`` (no pickle).

Loading order (:func:`load_artifact`): size cap -> magic -> HMAC verified with
``hmac.compare_digest`` -> header parsed -> payload hash -> the payload's types
checked against :data:`TRUSTED_TYPES` -> ``skops.io.loads`` with exactly the
listed types trusted. Nothing is deserialised before the signature checks, and
``trusted=True`` is never used.

Keys are bytes kept outside the database: :func:`resolve_key` reads
``AIHUB_ARTIFACT_KEY`` or a key file (default ``~/.aihub/artifact.key``,
created with mode 0600 by file-mode training when absent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

from aihub.errors import ArtifactError, ValidationError
from aihub.ml.model import TrainedModel

MAGIC = b"AIHUB-MODEL\n"
FORMAT_VERSION = 1
TAG_BYTES = 32
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
MIN_KEY_BYTES = 16
KEY_ENV = "AIHUB_ARTIFACT_KEY"
KEY_FILE_ENV = "AIHUB_ARTIFACT_KEY_FILE"
DEFAULT_KEY_FILE = Path("~/.aihub/artifact.key")

#: Types outside skops' built-in safe set that aihub pipelines contain. A
#: payload with any other untrusted type is refused.
TRUSTED_TYPES: tuple[str, ...] = (
    "aihub.ml.preprocess.FrameCoercer",
    "aihub.ml.features.DateFeatures",
    "aihub.ml.features.TextTerms",
    "aihub.ml.text.LexiconFeatures",
    # LightGBM keeps its trees as LightGBM's own model text inside the Booster's state, parsed by its C
    # library on load (no Python objects are rebuilt from it); the signature is verified before anything loads.
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "collections.OrderedDict",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",
    "builtins.slice",
    "numpy.dtype",
    "numpy.dtypes.Float64DType",
    "numpy.dtypes.Int64DType",
    "numpy.dtypes.ObjectDType",
    "numpy.dtypes.BoolDType",
    "numpy.dtypes.UInt8DType",
    "numpy.dtypes.UInt32DType",
    "numpy.dtypes.Float32DType",
    "numpy.dtypes.Int32DType",
    "numpy.dtypes.StrDType",
)


def _check_key(key: Any) -> bytes:
    if not isinstance(key, (bytes, bytearray)):
        raise ValidationError("the artifact key must be bytes", field="key")
    if len(key) < MIN_KEY_BYTES:
        raise ValidationError(f"the artifact key must be at least {MIN_KEY_BYTES} bytes; got {len(key)}", field="key")
    return bytes(key)


def dump_artifact(model: TrainedModel, key: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Serialise and sign a trained model.

    Parameters
    ----------
    model : TrainedModel
    key : bytes
        HMAC key, at least 16 bytes (32 random bytes recommended).
    max_bytes : int, default 200 MB
        Refuse to produce larger artifacts.

    Returns
    -------
    bytes
        The artifact (store as ``bytea`` or a ``.aihub`` file).

    Raises
    ------
    ValidationError
        Bad key.
    ArtifactError
        The artifact would exceed ``max_bytes`` or serialisation failed.
    """
    import skops.io as sio

    key = _check_key(key)
    try:
        payload = sio.dumps(model.pipeline, compression=zipfile.ZIP_DEFLATED)
    except Exception as exc:
        raise ArtifactError(f"the model could not be serialised: {type(exc).__name__}: {exc}") from exc
    header = {
        "format": "aihub-model",
        "format_version": FORMAT_VERSION,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "payload_bytes": len(payload),
        "metadata": model.to_metadata(),
    }
    hbytes = json.dumps(header, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")
    body = MAGIC + bytes([FORMAT_VERSION]) + struct.pack(">I", len(hbytes)) + hbytes + payload
    blob = body + hmac.new(key, body, hashlib.sha256).digest()
    if len(blob) > max_bytes:
        raise ArtifactError(
            f"the model artifact is {len(blob) / 1e6:.1f} MB, above the {max_bytes / 1e6:.1f} MB limit; "
            "use fewer or shallower trees (n_estimators, max_depth, min_samples_leaf)",
            details={"bytes": len(blob), "max_bytes": max_bytes},
        )
    return blob


def read_metadata(blob: bytes, key: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """Verify an artifact and return its metadata without loading the pipeline."""
    header, _ = _verify(blob, key, max_bytes)
    return header["metadata"]


def _verify(blob: Any, key: bytes, max_bytes: int) -> tuple[dict[str, Any], bytes]:
    key = _check_key(key)
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise ArtifactError("a model artifact must be bytes")
    blob = bytes(blob)
    if len(blob) > max_bytes:
        raise ArtifactError(
            f"the model artifact is {len(blob) / 1e6:.1f} MB, above the {max_bytes / 1e6:.1f} MB limit; it was not loaded",
            details={"bytes": len(blob), "max_bytes": max_bytes},
        )
    head = len(MAGIC) + 1 + 4
    if len(blob) < head + TAG_BYTES or not blob.startswith(MAGIC):
        raise ArtifactError("this is not an AI Analytics Hub model file (unknown format); it was not loaded")
    body, tag = blob[:-TAG_BYTES], blob[-TAG_BYTES:]
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(tag, expected):
        raise ArtifactError(
            "the model artifact's signature does not match: it was modified or signed with a different key; it was not loaded"
        )
    version = blob[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise ArtifactError(f"model artifact format version {version} is not supported (expected {FORMAT_VERSION})")
    (hlen,) = struct.unpack(">I", blob[len(MAGIC) + 1 : head])
    if head + hlen > len(body):
        raise ArtifactError("the model artifact is truncated")
    try:
        header = json.loads(body[head : head + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError("the model artifact header is unreadable") from exc
    payload = body[head + hlen :]
    if header.get("format") != "aihub-model" or hashlib.sha256(payload).hexdigest() != header.get("payload_sha256"):
        raise ArtifactError("the model artifact payload does not match its header")
    return header, payload


def load_artifact(blob: bytes, key: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> TrainedModel:
    """Verify and load an artifact made by :func:`dump_artifact`.

    Parameters
    ----------
    blob : bytes
    key : bytes
        The key it was signed with.
    max_bytes : int, default 200 MB
        Larger blobs are refused before any parsing.

    Returns
    -------
    TrainedModel
        With ``warnings`` extended by a note when the scikit-learn version
        differs from the training one.

    Raises
    ------
    ArtifactError
        Too large, not an aihub artifact, bad signature (tampered or foreign
        key), unsupported version, untrusted types inside, or unloadable.
    ValidationError
        Bad key.
    """
    import sklearn
    import skops.io as sio
    from sklearn.pipeline import Pipeline

    header, payload = _verify(blob, key, max_bytes)
    try:
        untrusted = sio.get_untrusted_types(data=payload)
    except Exception as exc:
        raise ArtifactError(f"the model payload is unreadable: {type(exc).__name__}") from exc
    refused = [t for t in untrusted if t not in TRUSTED_TYPES]
    if refused:
        raise ArtifactError(
            "the model artifact contains types that are not on the trusted list: " + ", ".join(sorted(refused)) + "; it was not loaded",
            details={"untrusted_types": sorted(refused)},
        )
    try:
        pipeline = sio.loads(payload, trusted=list(untrusted))
    except Exception as exc:
        raise ArtifactError(f"the model could not be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(pipeline, Pipeline) or list(pipeline.named_steps) != ["prepare", "preprocess", "model"]:
        raise ArtifactError("the model artifact does not hold an aihub pipeline")
    try:
        model = TrainedModel.from_metadata(header["metadata"], pipeline)
    except Exception as exc:
        raise ArtifactError(f"the model metadata is invalid: {type(exc).__name__}: {exc}") from exc
    trained_with = model.versions.get("scikit-learn")
    if trained_with and trained_with != sklearn.__version__:
        model.warnings.append(
            {
                "column": None,
                "kind": "version_mismatch",
                "message": f"Trained with scikit-learn {trained_with}, loaded with {sklearn.__version__}; retrain if predictions look off.",
            }
        )
    return model


# ---------------------------------------------------------------------------
# Keys for file mode
# ---------------------------------------------------------------------------


def resolve_key(key_file: str | os.PathLike | None = None, *, create: bool = False) -> tuple[bytes, str]:
    """Find the artifact signing key.

    Order: ``key_file`` argument; ``AIHUB_ARTIFACT_KEY`` (the variable's text,
    UTF-8 encoded, at least 16 characters); ``AIHUB_ARTIFACT_KEY_FILE``;
    ``~/.aihub/artifact.key``. Key files hold the key as text on one line
    (surrounding whitespace ignored); the same text works in the variable.

    Parameters
    ----------
    key_file : path, optional
    create : bool, default False
        When no key is found, create the key file (the explicit one or the
        default) with 32 random bytes as 64 hex characters, mode 0600, in a
        directory with mode 0700. The key is never written beside a model: a
        key next to the artifact would let whoever can swap the model swap the
        key too.

    Returns
    -------
    key : bytes
    source : str
        ``"env:AIHUB_ARTIFACT_KEY"`` or ``"file:<path>"`` (for messages; never the key).

    Raises
    ------
    ArtifactError
        No key found and ``create`` is False, or the key file is unreadable.
    ValidationError
        The key is shorter than 16 bytes.
    """
    if key_file is None:
        env = os.environ.get(KEY_ENV)
        if env:
            return _check_key(env.strip().encode("utf-8")), f"env:{KEY_ENV}"
        key_file = os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE
    path = Path(key_file).expanduser()
    if not path.exists():
        if not create:
            raise ArtifactError(
                f"no artifact key: set {KEY_ENV}, or point --key-file / {KEY_FILE_ENV} to the key file used at training ({path} does not exist)"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ArtifactError(f"cannot read the artifact key file {path}: {exc.strerror}") from exc
    key = _check_key(text.encode("utf-8"))
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        import warnings

        warnings.warn(f"artifact key file {path} is readable by other users; run chmod 600 {path}", stacklevel=2)
    return key, f"file:{path}"
