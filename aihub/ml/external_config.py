"""What a user writes to register a model served from outside (an external endpoint).

An external version is a URL that scores rows: an MLflow scoring server
(``/invocations``), a BentoML service, or a company's own JSON API. The
configuration says how our feature columns become the request body (the
*input mapping*) and where the prediction and the class probabilities are in
the answer (the *output mapping*), and bounds the calls (timeouts, retries,
circuit breaker) and the cost of explanations. The auth header's value is not
part of it: it is a secret given separately and stored encrypted.

Request formats (``input.format``), ``rows`` being the feature records
renamed by ``input.columns``:

==================  =========================================================================
``mlflow_split``    ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` (MLflow)
``mlflow_records``  ``{"dataframe_records": [{...}, ...]}`` (MLflow)
``bentoml``         ``{"<input.field>": [{...}, ...]}`` (a BentoML API whose argument is a list of
                    records; ``input.field`` names the argument, default ``input_data``)
``records``         ``input.template`` with the string ``"$records"`` replaced by the list of
                    records (``{"instances": "$records"}``); no template: the bare list
==================  =========================================================================

Answers: ``output.predictions_path`` is the dotted path of the per-row list
(MLflow: ``predictions``; empty: the body itself is the list). Each item is
the prediction itself, or an object from which ``output.prediction_key``,
``output.probabilities_key`` (a list in ``output.classes`` order, or an object
``{class: probability}``) and ``output.probability_key`` (the positive class's
probability) are read.

Source: MLflow documentation, "Deploy MLflow Model as a Local Inference
Server" (the ``/invocations`` input formats and ``{"predictions": ...}``
output); BentoML documentation, "Services" (JSON arguments by name).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from aihub.userconfig import UserConfig, error_at

#: ``artifact_format`` of an external version (its artifact is its signed JSON description).
EXTERNAL_FORMAT = "external-endpoint/1"
#: ``algorithm`` shown for an external version.
EXTERNAL_ALGORITHM = "external endpoint"
#: Placeholder in a ``records`` template replaced by the list of records.
RECORDS_PLACEHOLDER = "$records"

Label = str | int | float | bool


class InputMapping(UserConfig):
    """How our feature columns become the request body."""

    format: Literal["mlflow_split", "mlflow_records", "bentoml", "records"] = "mlflow_split"
    columns: dict[str, str] = Field(default_factory=dict, max_length=500,
                                    description="our feature name -> the endpoint's field name (unlisted: same name)")
    field: str = Field("input_data", min_length=1, max_length=200, description="bentoml: the argument's name")
    template: dict[str, Any] | None = Field(None, description='records: body with "$records" where the list goes')

    @model_validator(mode="after")
    def _template_has_placeholder(self) -> InputMapping:
        if self.format == "records" and self.template is not None and not _has_placeholder(self.template):
            raise error_at(("template",), f'the template must contain the string "{RECORDS_PLACEHOLDER}" where '
                           'the list of records goes, e.g. {"instances": "$records"}', self.template)
        return self


def _has_placeholder(node: Any) -> bool:
    if node == RECORDS_PLACEHOLDER:
        return True
    if isinstance(node, dict):
        return any(_has_placeholder(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_placeholder(v) for v in node)
    return False


class OutputMapping(UserConfig):
    """Where the prediction and the class probabilities are in the answer."""

    predictions_path: str = Field("predictions", max_length=200,
                                  description="dotted path of the per-row list; empty: the body is the list")
    prediction_key: str | None = Field(None, max_length=200, description="key of the prediction in each item")
    probabilities_key: str | None = Field(None, max_length=200,
                                          description="key of the class probabilities in each item")
    probability_key: str | None = Field(None, max_length=200,
                                        description="key of the positive class's probability in each item")
    classes: list[Label] | None = Field(None, min_length=2, max_length=200,
                                        description="class labels, in the order of the probabilities")
    positive_class: Label | None = None


class CallLimits(UserConfig):
    """Timeouts, retries and the circuit breaker of the calls."""

    connect_timeout_seconds: float = Field(2.0, gt=0, le=30)
    read_timeout_seconds: float = Field(10.0, gt=0, le=120)
    retries: int = Field(2, ge=0, le=5, description="extra attempts after a timeout or a 5xx answer")
    backoff_seconds: float = Field(0.2, ge=0, le=10, description="first wait; doubles, with jitter")
    breaker_failures: int = Field(5, ge=1, le=100, description="consecutive failed calls that open the circuit")
    breaker_cooldown_seconds: float = Field(30.0, gt=0, le=3600, description="open time before one trial call")
    max_rows_per_call: int = Field(1000, ge=1, le=10000)


class ExplainLimits(UserConfig):
    """The cost bound of one explanation (SHAP KernelExplainer)."""

    enabled: bool = True
    background_size: int = Field(10, ge=1, le=20, description="k-means summary of the reference data (rows)")
    nsamples: int = Field(200, ge=10, le=2048, description="coalitions evaluated per explanation, at most")
    max_calls: int = Field(4, ge=1, le=20, description="remote calls per explanation, at most")


class ExternalConfig(UserConfig):
    """A model version served by an external endpoint.

    Attributes
    ----------
    url : str
        ``http(s)://host[:port]/path`` of the scoring endpoint; its host must be
        on ``AIHUB_ALLOWED_HOSTS``.
    task : {"classification", "regression"}
    target : str or None
        The dataset's outcome column (left out of the features; its values
        give the classes when ``output.classes`` is not set).
    features : list of str or None
        Columns sent (None: every column of the dataset except the target).
    auth_header_name : str
        Header that carries the secret (``Authorization``).
    """

    url: str = Field(min_length=8, max_length=2000)
    task: Literal["classification", "regression"] = "classification"
    target: str | None = Field(None, max_length=500)
    features: list[str] | None = Field(None, min_length=1, max_length=500)
    label: str | None = Field(None, max_length=100, description="name of the score, e.g. 'Churn risk'")
    auth_header_name: str = Field("Authorization", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9\-_]+$")
    input: InputMapping = Field(default_factory=InputMapping)
    output: OutputMapping = Field(default_factory=OutputMapping)
    calls: CallLimits = Field(default_factory=CallLimits)
    explain: ExplainLimits = Field(default_factory=ExplainLimits)

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("write the endpoint as http://host:port/path or https://host/path")
        if "@" in v.split("/", 3)[2]:
            raise ValueError("put credentials in the auth header, not in the URL")
        return v

    @model_validator(mode="after")
    def _output_fits_task(self) -> ExternalConfig:
        out = self.output
        if self.task == "regression" and (out.probabilities_key or out.probability_key):
            raise error_at(("output", "probabilities_key"), "a regression endpoint has no class probabilities; "
                           "remove probabilities_key and probability_key", out.probabilities_key or out.probability_key)
        if out.probabilities_key and out.probability_key:
            raise error_at(("output", "probability_key"), "give probabilities_key (all classes) or probability_key "
                           "(the positive class), not both", out.probability_key)
        if out.positive_class is not None and out.classes and out.positive_class not in out.classes:
            raise error_at(("output", "positive_class"), f"the positive class must be one of the classes "
                           f"{out.classes}", out.positive_class)
        if self.features and self.target and self.target in self.features:
            raise error_at(("features",), f"the target {self.target!r} cannot also be a feature", self.target)
        return self

    def public(self) -> dict[str, Any]:
        """The configuration as JSON (it holds no secret)."""
        return self.model_dump(mode="json")
