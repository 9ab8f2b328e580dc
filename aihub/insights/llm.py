"""An optional narrative provider that speaks the OpenAI-compatible chat-completions protocol. Off by default.

:class:`ChatCompletionsProvider` is a :class:`aihub.insights.engine.NarrativeProvider`: it sends an
insight's template narrative and its figures to ``POST {base_url}/chat/completions`` (the protocol of
OpenAI's API that vLLM, llama.cpp's server, Ollama, LM Studio and most hosted gateways also serve) and returns
the model's paragraph. The engine's rule is unchanged: the rephrasing is kept only if every number in it is one
of the computed figures' texts, else the template narrative stays; a failed, slow or empty answer also keeps the
template (the provider raises, the engine logs and moves on).

Configuration (:func:`provider_from_env`); with ``AIHUB_LLM_BASE_URL`` unset there is no provider:

========================  =========================================================================
``AIHUB_LLM_BASE_URL``    e.g. ``http://127.0.0.1:11434/v1`` (its host must be on ``AIHUB_ALLOWED_HOSTS``,
                          like every host the hub calls)
``AIHUB_LLM_MODEL``       the model name the server knows (required with a base URL)
``AIHUB_LLM_API_KEY``     sent as ``Authorization: Bearer ...`` when set
``AIHUB_LLM_TIMEOUT``     seconds per call (``20``)
========================  =========================================================================
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import httpx

from aihub.connectors.policy import check_url_allowed, parse_allowed_hosts
from aihub.errors import ValidationError

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You rewrite one finding of a business-analytics report for a busy analyst: one short paragraph, plain "
    "words, no headings or lists. Keep every number exactly as it is written in the finding (same digits, "
    "units and signs); do not add, round, convert or compute any number. Do not add facts."
)


class ChatCompletionsProvider:
    """Rephrases insight narratives with an OpenAI-compatible chat-completions server.

    Parameters
    ----------
    base_url : str
        The API root, e.g. ``https://llm.example.com/v1``; ``/chat/completions`` is appended.
    model : str
        Model name sent in each request.
    api_key : str, optional
        Bearer token; none is sent when empty.
    timeout : float
        Seconds per call (connect and read).
    allowed_hosts : sequence of str, optional
        Host allow-list; default ``AIHUB_ALLOWED_HOSTS``.
    temperature : float
        Sampling temperature (low: stay close to the template).
    max_tokens : int
        Longest answer, in tokens.

    Raises
    ------
    ValidationError
        For an empty model or a base URL that is not http(s).
    ConnectorError
        Kind ``not_allowed`` when the base URL's host is not on the allow-list (nothing is sent).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, timeout: float = 20.0,
                 allowed_hosts: Sequence[str] | None = None, temperature: float = 0.2, max_tokens: int = 400
                 ) -> None:
        if not (model or "").strip():
            raise ValidationError("Set AIHUB_LLM_MODEL to the model name the server serves.", field="AIHUB_LLM_MODEL")
        self.url = base_url.rstrip("/") + "/chat/completions"
        check_url_allowed(self.url, parse_allowed_hosts(allowed_hosts), source="narrative provider",
                          what="narrative request")
        self.model, self.api_key, self.timeout = model.strip(), api_key or None, float(timeout)
        self.temperature, self.max_tokens = float(temperature), int(max_tokens)

    def messages(self, narrative: str, *, title: str, figure_text: Mapping[str, str]) -> list[dict[str, str]]:
        """The chat messages of one request."""
        figures = "\n".join(f"- {k}: {v}" for k, v in figure_text.items())
        return [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"Title: {title}\nFinding: {narrative}\nFigures (keep them exactly):\n"
                                            f"{figures}\nRewrite the finding."}]

    def __call__(self, narrative: str, *, insight_type: str = "", title: str = "",
                 figure_text: Mapping[str, str] | None = None) -> str:
        """The rephrased narrative.

        Raises
        ------
        httpx.HTTPError
            On a refused connection, a timeout or an HTTP error status.
        ValueError
            When the answer is not a chat completion with text.
        """
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"model": self.model, "messages": self.messages(narrative, title=title, figure_text=figure_text or {}),
                "temperature": self.temperature, "max_tokens": self.max_tokens, "stream": False}
        r = httpx.post(self.url, json=body, headers=headers, timeout=self.timeout, follow_redirects=False)
        r.raise_for_status()
        try:
            text = r.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"not a chat completion: {r.text[:200]!r}") from exc
        if not isinstance(text, str) or not text.strip():
            raise ValueError("the chat completion has no text")
        return text.strip()


def provider_from_env() -> ChatCompletionsProvider | None:
    """The provider ``AIHUB_LLM_*`` configure, or None when ``AIHUB_LLM_BASE_URL`` is unset (the default).

    Raises
    ------
    ValidationError
        For a base URL without a model, or a timeout that is not a positive number.
    ConnectorError
        When the base URL's host is not on ``AIHUB_ALLOWED_HOSTS``.
    """
    base = os.environ.get("AIHUB_LLM_BASE_URL", "").strip()
    if not base:
        return None
    raw = os.environ.get("AIHUB_LLM_TIMEOUT", "20")
    try:
        timeout = float(raw)
        if timeout <= 0:
            raise ValueError(raw)
    except ValueError:
        raise ValidationError(f"AIHUB_LLM_TIMEOUT must be a positive number of seconds; got {raw!r}.",
                              field="AIHUB_LLM_TIMEOUT") from None
    return ChatCompletionsProvider(base, os.environ.get("AIHUB_LLM_MODEL", ""), os.environ.get("AIHUB_LLM_API_KEY"),
                                   timeout=timeout)
