"""Pydantic v2 models of the API's request and response bodies (they are the OpenAPI document's schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    """Base of every response body: fields from the services' records (fields they add later are left out)."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


class Body(BaseModel):
    """Base of every request body: an unknown field is refused (422 naming it), never silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Page(Model, Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``cursor`` for the next one (null on the last)."""

    items: list[T]
    next_cursor: str | None = None


class FieldError(Model):
    field: str | None = None
    message: str
    type: str = ""


class Problem(BaseModel):
    """RFC 9457 problem details, with the hub's error ``code``, the ``field`` at fault and the request id."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str | None = None
    field: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    details: dict[str, Any] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "model": Problem,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: Error responses every authenticated route may give.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("The body cannot be parsed (not JSON, or a broken multipart form)."),
    401: _problem("No API key, or a malformed, unknown, revoked or expired one."),
    403: _problem("The key lacks the scope, or the user it acts for lacks the permission."),
    404: _problem("No such object in your organization (also for another organization's ids)."),
    409: _problem("The object's state does not allow it now (e.g. nothing to roll back to, job already ended)."),
    422: _problem("A field, parameter or file is not valid; `field` names it."),
    429: _problem("Too many requests for this key; see `Retry-After`."),
}


# ---------------------------------------------------------------- health
class Health(Model):
    status: Literal["ok", "degraded", "unavailable"]
    version: str
    database: dict[str, Any]
    worker: dict[str, Any]
    queue: dict[str, int]
    compute: dict[str, Any] = Field(default_factory=dict, description=(
        "Engine of the heavy jobs: backend in-process, dask-local or dask; with a scheduler named, whether it "
        "answered (checked at most every 30 s) and its workers"))


# ---------------------------------------------------------------- datasets
class ColumnInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    kind: str | None = None


class Dataset(Model):
    id: int
    name: str
    description: str
    created_at: datetime
    latest_version: int | None
    latest_version_id: int | None
    row_count: int | None
    versions: int


class DatasetVersion(Model):
    id: int
    dataset_id: int
    dataset_name: str
    version: int
    filename: str
    sha256: str
    row_count: int
    created_at: datetime
    created_by: str | None


class DatasetSchema(Model):
    dataset_id: int
    version_id: int
    version: int
    columns: list[dict[str, Any]]


class Upload(Model):
    """What an upload stored: the version, and whether the same bytes were already saved (nothing new then)."""

    duplicate: bool
    version: DatasetVersion


# ---------------------------------------------------------------- jobs
class Job(Model):
    id: int
    model_id: int | None = Field(description="null for work of no model (monitor_run, insights)")
    model_name: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    message: str
    error: str | None
    model_version_id: int | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancel_requested: bool
    result: dict[str, Any] = Field(default_factory=dict, description="What a finished job made (e.g. batch_id).")
    links: dict[str, str] = Field(default_factory=dict)


# ---------------------------------------------------------------- models
class ModelOut(Model):
    id: int
    name: str
    kind: str = Field(description="`ml` (predictive) or `forecast`")
    dataset_id: int | None
    config: dict[str, Any]
    active_version_id: int | None
    active_version: int | None
    versions: int
    created_at: datetime
    challenger_version_id: int | None = None
    challenger_version: int | None = None
    challenger_share: float = 0.0


class VersionOut(Model):
    id: int
    model_id: int
    version: int
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    training_data_hash: str
    library_versions: dict[str, Any]
    artifact_format: str
    training_seconds: float
    dataset_version_id: int | None
    created_at: datetime
    is_active: bool = False
    is_challenger: bool = False
    feature_schema: list[dict[str, Any]] | None = None
    config: dict[str, Any] | None = None


class CreateModel(Body):
    """A predictive model (``kind = ml``: a TrainingConfig, as the Models page's JSON) or a forecast
    (``kind = forecast``: the forecast form's fields)."""

    kind: Literal["ml", "forecast"] = "ml"
    dataset_id: int = Field(ge=1, le=2**62)
    config: dict[str, Any] = Field(description="ml: model_name, model_type, target, features, algorithm, ...; "
                                               "forecast: model_name, date_column, value_column, freq, horizon, ...")


class Retrain(Body):
    config: dict[str, Any] | None = Field(None, description="A changed configuration (ml only); default the "
                                                            "model's current one")


class Deploy(Body):
    version_id: int = Field(ge=1, le=2**62)


class Challenger(Body):
    version_id: int | None = Field(None, ge=1, le=2**62, description="null removes the challenger")
    share: float = Field(0.2, ge=0.0, le=1.0, description="Share of prediction traffic the challenger serves")


class Comparison(Model):
    rows: list[dict[str, Any]]


# ---------------------------------------------------------------- predictions
class PredictIn(Body):
    values: dict[str, Any] = Field(description="{feature: value}; missing or blank ones are imputed as in training")
    explain: bool = True


class PredictionOut(Model):
    id: int
    model_id: int
    version_id: int
    version: int
    served_by: str
    task: str
    label: str
    prediction: Any
    probability: float | None
    confidence: float | None
    lower: float | None
    upper: float | None
    explanation: str | None
    contributions: list[dict[str, Any]]
    cache_hit: bool
    latency_ms: float
    positive_class: Any = None


class StoredPrediction(Model):
    id: int
    model_id: int
    model_version_id: int
    version: int
    served_by: str
    batch_id: int | None
    row_number: int | None
    input: dict[str, Any]
    output: dict[str, Any]
    prediction: str
    probability: float | None
    confidence: float | None
    latency_ms: float
    cache_hit: bool
    error: str | None
    requested_by: str | None
    created_at: datetime
    actual: str | None
    actual_at: datetime | None
    warning: str | None = None


class Batch(Model):
    id: int
    model_id: int
    filename: str
    rows_total: int
    rows_predicted: int
    rows_failed: int
    errors: list[dict[str, Any]]
    seconds: float
    created_by: str | None
    created_at: datetime
    status: str = "succeeded"
    error: str | None = None


class OutcomeIn(Body):
    actual: str | float | int | bool = Field(description="A class of the model, or a number for value models")


class OutcomeItem(Body):
    prediction_id: int = Field(ge=1, le=2**62)
    actual: str | float | int | bool


class OutcomesIn(Body):
    outcomes: list[OutcomeItem] = Field(min_length=1, max_length=10_000)


class OutcomesOut(Model):
    updated: int
    errors: list[dict[str, Any]]


# ---------------------------------------------------------------- forecasts
class ForecastPoint(Model):
    ds: str
    yhat: float | None
    yhat_lower_80: float | None
    yhat_upper_80: float | None
    yhat_lower_95: float | None
    yhat_upper_95: float | None


class ForecastOut(Model):
    model_id: int
    version_id: int
    version: int
    algorithm: str
    freq: str | None = None
    horizon: int | None = None
    metrics: dict[str, Any]
    points: list[ForecastPoint]
    actuals: list[dict[str, Any]]


# ---------------------------------------------------------------- monitors and anomalies
class MonitorOut(Model):
    id: int
    name: str
    dataset_id: int | None
    dataset_name: str | None
    config: dict[str, Any]
    enabled: bool
    created_at: datetime
    created_by: str | None
    last_run_at: datetime | None
    scored_until: datetime | None = None
    open_anomalies: int = 0
    anomalies: int = 0
    last_run_status: str | None = None
    schedule: dict[str, Any] = Field(default_factory=dict, description="See `GET /monitors/{id}/schedule`")
    next_run_at: datetime | None = Field(None, description="When the worker runs it next (null: manual or paused)")
    failures: int = Field(0, description="Failed runs since the last success")
    last_error: str | None = None


HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
ScheduleKind = Literal["manual", "hourly", "daily", "weekly", "cron"]
SeverityName = Literal["low", "medium", "high", "critical"]


class ScheduleIn(Body):
    """When a monitor runs by itself, in ``timezone`` (an IANA name)."""

    every: ScheduleKind = "manual"
    at: str = Field("06:00", pattern=HHMM, description="Time of daily and weekly runs (HH:MM)")
    minute: int = Field(0, ge=0, le=59, description="Minute past the hour of hourly runs")
    weekday: int = Field(0, ge=0, le=6, description="Day of weekly runs, 0 = Monday")
    cron: str | None = Field(None, max_length=100, description="Five-field cron expression (every = cron)")
    timezone: str = Field("UTC", min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    after_sync: bool = Field(True, description="Also run after each sync that made a new dataset version")


class ScheduleOut(Model):
    every: ScheduleKind
    at: str
    minute: int
    weekday: int
    cron: str | None
    timezone: str
    after_sync: bool
    description: str = Field(description="The schedule in words")
    enabled: bool = Field(description="False while paused")
    next_run_at: datetime | None


class QuietHoursIn(Body):
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)


class AlertingIn(Body):
    """Who hears about a monitor's incidents, and when. An empty ``email`` and no ``webhook_url``: nobody."""

    email: list[str] = Field(default_factory=list, max_length=20, description="Recipients")
    webhook_url: str | None = Field(None, max_length=2000, description="http(s) URL on AIHUB_ALLOWED_HOSTS; "
                                    "each message is signed (X-AIHub-Signature)")
    webhook_secret: str | None = Field(None, min_length=16, max_length=500, description="Signing secret (write "
                                       "only; kept when omitted, never returned)")
    min_severity: SeverityName = "high"
    digest: Literal["none", "hourly", "daily"] = "none"
    digest_at: str = Field("08:00", pattern=HHMM, description="Time of the daily digest")
    quiet_hours: QuietHoursIn | None = None
    timezone: str = Field("UTC", min_length=1, max_length=64)
    incident_gap: int = Field(3, ge=1, le=1000, description="Quiet periods after which a new incident starts")


class QuietHoursOut(Model):
    start: str
    end: str


class AlertingOut(Model):
    email: list[str]
    webhook_url: str | None
    has_webhook_secret: bool = Field(description="A signing secret is stored (it is never returned)")
    min_severity: SeverityName
    digest: Literal["none", "hourly", "daily"]
    digest_at: str
    quiet_hours: QuietHoursOut | None
    timezone: str
    incident_gap: int


class MonitorRun(Model):
    id: int
    monitor_id: int
    status: str
    points_scored: int
    anomalies_found: int
    suppressed: int
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class AnomalyOut(Model):
    id: int
    monitor_id: int
    monitor_name: str
    run_id: int | None
    metric: str
    dimension: str
    slice: str
    ts: str = Field(description="The period, ISO 8601 in the data's own clock (no zone)")
    actual: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    score: float | None
    severity: str
    impact: float | None
    impact_note: str
    status: str
    assignee_id: int | None
    assignee: str | None
    resolution_notes: str | None
    is_false_positive: bool
    false_positive_reason: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    hint: str = ""
    kind: str = ""
    kind_evidence: str = ""
    root_cause: dict[str, Any] | None = None
    snapshot: list[dict[str, Any]] | None = None


class AnomalyEvent(Model):
    id: int
    anomaly_id: int
    actor_id: int | None
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    details: dict[str, Any]
    created_at: datetime


class StatusChange(Body):
    status: Literal["new", "acknowledged", "investigating", "resolved", "false_positive"]
    note: str = Field("", max_length=5000)
    resolution_notes: str | None = Field(None, max_length=5000, description="Required to resolve")
    false_positive_reason: str | None = Field(None, max_length=500, description="Required for false_positive")


class FalsePositive(Body):
    reason: str = Field(min_length=1, max_length=500, description="e.g. promotion, known outage")
    note: str = Field("", max_length=5000)


class Assign(Body):
    user_id: int | None = Field(None, ge=1, le=2**62, description="null unassigns")
    note: str = Field("", max_length=5000)


class Note(Body):
    note: str = Field(min_length=1, max_length=5000)


# ---------------------------------------------------------------- insights
class InsightOut(Model):
    id: int
    type: str
    category: str
    priority: str
    score: float
    confidence: float
    title: str
    narrative: str
    recommended_actions: list[str]
    evidence: list[dict[str, Any]]
    figures: dict[str, Any]
    subject: str
    period: str
    direction: str
    magnitude: float | None
    currency: str | None
    method: str
    status: str
    dismiss_reason: str | None
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    updated_at: datetime
    useful: int = 0
    not_useful: int = 0


class InsightEvent(Model):
    id: int
    insight_id: int
    insight_type: str
    actor_id: int | None
    actor: str | None
    action: str
    from_status: str | None
    to_status: str | None
    useful: bool | None
    note: str | None
    created_at: datetime


class InsightGenerationStatus(Model):
    running: bool = Field(description="The newest generation job is queued or running")
    latest_job: Job | None = Field(description="The newest generation job (poll its links.self)")
    open_by_status: dict[str, int] = Field(description="Valid insights per open status")
    last_generated_at: datetime | None = Field(description="When the newest insight was stored")


class GenerateInsights(Body):
    categories: list[Literal["sales", "customer", "operations", "finance"]] | None = Field(None, max_length=4)
    min_priority: Literal["low", "medium", "high", "critical"] | None = None
    limit: int | None = Field(None, ge=1, le=200)


class InsightStatus(Body):
    status: Literal["new", "acknowledged", "in_progress", "implemented", "dismissed"]
    reason: str | None = Field(None, max_length=1000, description="Required to dismiss")


class Vote(Body):
    useful: bool
    note: str | None = Field(None, max_length=1000)


# ---------------------------------------------------------------- workflows
class WorkflowOut(Model):
    id: int
    name: str
    description: str
    definition: dict[str, Any]
    enabled: bool
    created_by_name: str | None
    created_at: datetime
    updated_at: datetime
    last_fired_at: datetime | None
    runs: dict[str, int] = Field(default_factory=dict, description="Run counts by outcome")


class RunOut(Model):
    id: int
    workflow_id: int
    workflow_name: str
    trigger: dict[str, Any]
    status: str
    steps: list[dict[str, Any]]
    error: str | None
    started_at: datetime
    finished_at: datetime | None


class ApprovalOut(Model):
    id: int
    workflow_run_id: int
    workflow_id: int
    workflow_name: str
    step_index: int
    action: dict[str, Any]
    context: dict[str, Any]
    status: str
    requested_at: datetime
    expires_at: datetime
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    note: str | None = None


class Decision(Body):
    approve: bool
    note: str = Field("", max_length=2000, description="Why; required to reject")


class Triggered(Model):
    run_id: int
    links: dict[str, str]


# ---------------------------------------------------------------- dashboard
class DashboardOut(Model):
    datasets: int
    models_active: int
    models_inactive: int
    jobs_by_status: dict[str, int]
    active_forecasts: list[dict[str, Any]]
    anomalies: dict[str, Any]
    model_performance: dict[str, Any]


# ---------------------------------------------------------------- external model versions
class ExternalVersionIn(Body):
    """A model version served by an external endpoint (see :class:`aihub.ml.external_config.ExternalConfig`)."""

    dataset_id: int = Field(ge=1, le=2**62, description="Reference data: feature columns, explanations' "
                                                         "background, drift baseline")
    config: dict[str, Any] = Field(description="url, task, target, features, input, output, calls, explain")
    auth_header: str | None = Field(None, max_length=4000, json_schema_extra={"writeOnly": True},
                                    description="Value of config.auth_header_name; stored encrypted, never returned")
    model_name: str | None = Field(None, max_length=200, description="Name of the new model (POST /models/external)")


class CircuitOut(Model):
    state: Literal["closed", "open", "half_open"]
    consecutive_failures: int
    last_error: str | None
    retry_in_seconds: float
