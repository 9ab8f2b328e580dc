"""The trained model object returned by training and by :func:`load_artifact`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from aihub.jsonsafe import plain
from aihub.ml.config import TrainingConfig
from aihub.ml.decision import apply_calibration
from aihub.ml.schema import FeatureSpec, feature_treatments
from aihub.ml.targets import score_name

#: Business label of a regression model's output, for summaries ("Predicted demand 41.2 ...").
#: Classification scores are named after the positive class instead (:func:`aihub.ml.targets.score_name`),
#: never after the template: a credit model trained from the churn template scores "P(bad)", not "Churn risk".
OUTPUT_LABELS = {
    "customer_lifetime_value": "Predicted customer value",
    "demand": "Predicted demand",
    "price": "Predicted price",
}

_CONTROLLER = None


def thread_limit(n: int):
    """Context manager capping BLAS/OpenMP threads at ``n``.

    Reuses one ``threadpoolctl.ThreadpoolController``: building a new one
    (what ``threadpool_limits`` does) rescans the loaded libraries, ~15 ms per
    call, which dominated single-row predictions.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=n)


@dataclass(eq=False)
class TrainedModel:
    """A fitted model with everything needed to predict, explain and audit it.

    Returned by :func:`aihub.ml.train_model` (alias ``TrainingResult``) and by
    :func:`aihub.ml.load_artifact`.

    Attributes
    ----------
    pipeline : sklearn.pipeline.Pipeline
        ``prepare`` (:class:`~aihub.ml.preprocess.FrameCoercer`) ->
        ``preprocess`` (``ColumnTransformer``) -> ``model`` (estimator).
        Accepts a raw DataFrame with the feature columns.
    config : TrainingConfig
        Validated configuration it was trained with.
    task : str
    algorithm : str
        Chosen algorithm (for ``auto`` the winner, e.g. ``"random_forest"``
        or ``"blend"``).
    estimator_params : dict
        Hyperparameters of the final estimator (for blends, per member).
    feature_schema : list of FeatureSpec
    target : str or None
    classes : list or None
        Class labels (classification), JSON types.
    positive_class : Any
        Binary classification: class whose probability is reported.
    metrics : dict
        Held-out test metrics (:mod:`aihub.ml.metrics`).
    validation_metrics : dict or None
    cv_results : list of dict or None
        ``auto`` only: one row per candidate with ``candidate``,
        ``algorithm``, ``params``, ``metric``, ``mean``, ``std``, ``folds``,
        ``seconds``, ``selected``.
    data_hash : str
        SHA-256 of the canonical training frame
        (:func:`aihub.ml.preprocess.frame_sha256`).
    versions : dict
        Library versions at training time.
    training_seconds : float
    n_rows : dict
        ``{"input", "used", "train", "validation", "test"}`` row counts.
    warnings : list of dict
        :class:`~aihub.ml.preprocess.FeatureWarning` dicts and notes.
    excluded_columns : dict
        ``{column: reason}`` for columns not used as inputs.
    interval : dict or None
        Regression: ``{"method", "level", "lower_offset", "upper_offset",
        "n_residuals", "floor" (optional)}``; the interval is
        ``prediction + offset`` (target units), see
        :func:`aihub.ml.train.interval_bounds`.
    segments : dict or None
        Clustering: ``{cluster (str): {"name", "description", "size", ...}}``.
    global_importance : list of dict or None
        ``[{"feature", "importance"}]``, mean |SHAP| on a training sample,
        descending.
    explain_background : pandas.DataFrame or None
        Raw training rows (at most ``explain_background_size``) used as the
        SHAP background sample; stored inside the artifact.
    transformed_origins, transformed_names : list of str
        Original feature and readable name of each preprocessed column.
    created_at : str
        ISO-8601 UTC time of training.
    calibration : dict or None
        Classification: the map from the estimator's probabilities to the
        reported ones (:mod:`aihub.ml.decision`; ``{"method": "platt" |
        "prior" | "none", ...}``).
    threshold : dict or None
        Binary classification: the decision threshold on the positive class's
        probability, ``{"value", "metric", "score", "score_at_0_5", "n_rows",
        "source"}`` (:func:`aihub.ml.decision.choose_threshold`).
    class_codes : bool
        The estimator was fitted on class codes 0..K-1 in ``classes`` order
        (models trained before this was introduced used the labels).
    target_info : dict or None
        :class:`aihub.ml.targets.TargetInfo` as a dict: rows per class, why
        the positive class was chosen, whether the target could also be
        read as amounts.
    """

    pipeline: Pipeline
    config: TrainingConfig
    task: str
    algorithm: str
    estimator_params: dict[str, Any]
    feature_schema: list[FeatureSpec]
    target: str | None
    classes: list | None
    positive_class: Any
    metrics: dict[str, Any]
    validation_metrics: dict[str, Any] | None
    cv_results: list[dict[str, Any]] | None
    data_hash: str
    versions: dict[str, str]
    training_seconds: float
    n_rows: dict[str, int]
    warnings: list[dict[str, Any]]
    excluded_columns: dict[str, str]
    interval: dict[str, Any] | None
    segments: dict[str, dict[str, Any]] | None
    global_importance: list[dict[str, Any]] | None
    explain_background: pd.DataFrame | None
    transformed_origins: list[str]
    transformed_names: list[str]
    created_at: str
    calibration: dict[str, Any] | None = None
    threshold: dict[str, Any] | None = None
    class_codes: bool = False
    target_info: dict[str, Any] | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # -- convenience --------------------------------------------------------

    @property
    def features(self) -> list[str]:
        """Input feature names in model order."""
        return [f.name for f in self.feature_schema]

    @property
    def model_type(self) -> str | None:
        return self.config.model_type

    @property
    def score_name(self) -> str | None:
        """Name of a binary model's score: ``config.score_label``, else ``"P(bad)"``-style (None otherwise)."""
        if self.task != "classification" or len(self.classes or []) != 2:
            return None
        return score_name(self.target, self.positive_class, self.config.score_label)

    @property
    def output_label(self) -> str:
        """Readable name of the output: ``"P(Churn)"``, ``"P(bad)"``, ``"Predicted demand"``."""
        if self.task == "classification":
            if self.positive_class is not None and len(self.classes or []) == 2:
                return self.score_name
            return f"Probability of the predicted {self.target}"
        if self.task == "regression":
            return OUTPUT_LABELS.get(self.config.model_type or "", f"Predicted {self.target}")
        return "Segment"

    @property
    def feature_treatments(self) -> list[dict[str, str]]:
        """What was done to each column of the training table (inputs, then excluded columns with reasons)."""
        return feature_treatments(self.feature_schema, self.excluded_columns)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Reported class probabilities, shape (n_rows, n_classes), columns in ``classes`` order.

        The estimator's probabilities, reordered to ``classes`` and passed
        through :attr:`calibration`. ``frame`` holds the feature columns (raw
        or as :func:`aihub.ml.validate.validate` cleaned them).
        """
        raw = self.pipeline.predict_proba(frame)
        return self.calibrate(raw)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The estimator's ``predict_proba`` output -> reported probabilities in ``classes`` order."""
        if not self.class_codes:
            est_classes = plain(list(self.estimator.classes_))
            raw = raw[:, [est_classes.index(c) for c in self.classes]]
        return apply_calibration(raw, self.calibration)

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """Predicted labels from reported probabilities: the decision threshold (binary) or the most probable class."""
        classes = np.asarray(self.classes, dtype=object)
        if len(self.classes) == 2 and self.threshold is not None and self.positive_class is not None:
            k = self.classes.index(self.positive_class)
            return np.where(proba[:, k] >= self.threshold["value"], classes[k], classes[1 - k])
        return classes[np.argmax(proba, axis=1)]

    @property
    def id_columns(self) -> list[str]:
        """Columns excluded as identifiers (kept in prediction output for joining)."""
        return [c for c, why in self.excluded_columns.items() if why == "id_like"]

    @property
    def estimator(self):
        """The fitted final estimator (last pipeline step)."""
        return self.pipeline.named_steps["model"]

    def transform(self, frame: pd.DataFrame, *, parsed: bool = False) -> np.ndarray:
        """Raw feature frame -> preprocessed matrix of shape (n_rows, n_transformed).

        ``parsed``: ``frame`` is the ``clean`` frame of :func:`aihub.ml.validate.validate` (or rows of it); its
        numbers and categories are not parsed again (:meth:`~aihub.ml.preprocess.FrameCoercer.transform_parsed`,
        the same matrix).

        A form row (up to 16 rows) skips ``ColumnTransformer.transform``'s own checks and dispatch, which cost
        more than the work for one row: its fitted blocks run one after the other and are stacked, which is
        what the column transformer does (dense output, ``remainder="drop"``).
        """
        prepare = self.pipeline.named_steps["prepare"]
        X = prepare.transform_parsed(frame) if parsed else prepare.transform(frame)
        pre = self.pipeline.named_steps["preprocess"]
        fitted = getattr(pre, "transformers_", None)
        if len(X) > 16 or not fitted or any(isinstance(t, str) and t != "drop" for _, t, _ in fitted):
            return pre.transform(X)
        blocks = [np.asarray(trans.transform(X[cols]), dtype=np.float64) for _, trans, cols in fitted
                  if not (isinstance(trans, str) or (not isinstance(cols, str) and len(cols) == 0))]
        return np.hstack(blocks) if blocks else pre.transform(X)

    # -- metadata -----------------------------------------------------------

    def to_metadata(self) -> dict[str, Any]:
        """Everything except the pipeline, as JSON types (for the registry and artifacts)."""
        bg = None
        if self.explain_background is not None:
            bg = {
                "columns": [str(c) for c in self.explain_background.columns],
                "rows": plain(self.explain_background.astype(object).where(self.explain_background.notna(), None).values.tolist()),
            }
        return plain(
            {
                "config": self.config.to_dict(),
                "task": self.task,
                "algorithm": self.algorithm,
                "estimator_params": self.estimator_params,
                "feature_schema": [f.to_dict() for f in self.feature_schema],
                "target": self.target,
                "classes": self.classes,
                "positive_class": self.positive_class,
                "metrics": self.metrics,
                "validation_metrics": self.validation_metrics,
                "cv_results": self.cv_results,
                "data_hash": self.data_hash,
                "versions": self.versions,
                "training_seconds": self.training_seconds,
                "n_rows": self.n_rows,
                "warnings": self.warnings,
                "excluded_columns": self.excluded_columns,
                "interval": self.interval,
                "segments": self.segments,
                "global_importance": self.global_importance,
                "explain_background": bg,
                "transformed_origins": self.transformed_origins,
                "transformed_names": self.transformed_names,
                "created_at": self.created_at,
                "calibration": self.calibration,
                "threshold": self.threshold,
                "class_codes": self.class_codes,
                "target_info": self.target_info,
                "score_name": self.score_name,
                "feature_treatments": self.feature_treatments,
            }
        )

    @classmethod
    def from_metadata(cls, meta: dict[str, Any], pipeline: Pipeline) -> TrainedModel:
        """Rebuild from :meth:`to_metadata` output and a loaded pipeline."""
        bg = meta.get("explain_background")
        background = None
        if bg is not None:
            background = pd.DataFrame(bg["rows"], columns=bg["columns"])
            schema = {f["name"]: f for f in meta["feature_schema"]}
            for col in background.columns:
                kind = schema.get(col, {}).get("kind")
                if kind == "numeric":
                    background[col] = pd.to_numeric(background[col], errors="coerce")
                elif kind == "date":
                    background[col] = pd.to_datetime(background[col], errors="coerce")
        return cls(
            pipeline=pipeline,
            config=TrainingConfig.from_dict(meta["config"]),
            task=meta["task"],
            algorithm=meta["algorithm"],
            estimator_params=meta.get("estimator_params") or {},
            feature_schema=[FeatureSpec.from_dict(f) for f in meta["feature_schema"]],
            target=meta.get("target"),
            classes=meta.get("classes"),
            positive_class=meta.get("positive_class"),
            metrics=meta.get("metrics") or {},
            validation_metrics=meta.get("validation_metrics"),
            cv_results=meta.get("cv_results"),
            data_hash=meta["data_hash"],
            versions=meta.get("versions") or {},
            training_seconds=float(meta.get("training_seconds") or 0.0),
            n_rows=meta.get("n_rows") or {},
            warnings=meta.get("warnings") or [],
            excluded_columns=meta.get("excluded_columns") or {},
            interval=meta.get("interval"),
            segments=meta.get("segments"),
            global_importance=meta.get("global_importance"),
            explain_background=background,
            transformed_origins=list(meta.get("transformed_origins") or []),
            transformed_names=list(meta.get("transformed_names") or []),
            created_at=meta.get("created_at", ""),
            calibration=meta.get("calibration"),
            threshold=meta.get("threshold"),
            class_codes=bool(meta.get("class_codes", False)),
            target_info=meta.get("target_info"),
        )

    def summary(self) -> dict[str, Any]:
        """Short JSON summary for lists and logs (no curves)."""
        m = {k: v for k, v in self.metrics.items() if not isinstance(v, (dict, list))}
        return plain(
            {
                "model_name": self.config.model_name,
                "model_type": self.config.model_type,
                "task": self.task,
                "algorithm": self.algorithm,
                "target": self.target,
                "features": self.features,
                "metrics": m,
                "data_hash": self.data_hash,
                "training_seconds": round(self.training_seconds, 3),
            }
        )


TrainingResult = TrainedModel
