"""Predictive-modelling core of AI Analytics Hub (no database, no Streamlit).

Public API
----------
Configuration
    :class:`TrainingConfig` (``TrainingConfig.from_dict``), :class:`FeatureEngineering`,
    :class:`HyperparameterSpec`, :func:`hyperparameter_specs`,
    :func:`all_hyperparameter_specs`, ``TASKS``, ``MODEL_TYPES``, ``ALGORITHMS``.
Templates
    ``TEMPLATES``, :func:`list_templates`, :func:`template_defaults`, :func:`suggest_config`.
Targets
    :func:`analyze_target` -> :class:`TargetInfo`, :func:`target_kind_choices`
    (classes or amounts?), :func:`default_positive_class`, ``POSITIVE_LABELS``.
Features
    :func:`leakage_warnings`, :func:`infer_task`, :func:`parse_numeric`,
    :func:`detect_column_kind`, :func:`feature_treatments`.
Text
    free-text columns become TF-IDF and VADER features (:mod:`aihub.ml.text`;
    per-row sentiment without labels is :mod:`aihub.sentiment`).
Training
    :func:`train_model` -> :class:`TrainedModel` (alias ``TrainingResult``),
    :class:`Cancelled`.
Prediction
    :func:`predict`, :func:`predict_one`, :func:`validate_rows`.
Explanations
    :func:`explain`, :func:`summarize`, :func:`global_importance`,
    :func:`compare_predictions`.
Artifacts
    :func:`dump_artifact`, :func:`load_artifact`, :func:`read_metadata`,
    :func:`resolve_key`.
RFM / CLV
    :func:`rfm_table`, :func:`clv_table`, :func:`name_segments`.
"""

from aihub.ml.artifacts import dump_artifact, load_artifact, read_metadata, resolve_key
from aihub.ml.config import (
    ALGORITHMS,
    MODEL_TYPES,
    TASKS,
    FeatureEngineering,
    HyperparameterSpec,
    TrainingConfig,
    all_hyperparameter_specs,
    hyperparameter_specs,
)
from aihub.ml.explain import Comparison, Explanation, compare_predictions, explain, global_importance, summarize
from aihub.ml.model import TrainedModel, TrainingResult
from aihub.ml.predict import predict, predict_one, validate_rows
from aihub.ml.preprocess import FeatureWarning, detect_column_kind, infer_task, leakage_warnings, parse_numeric
from aihub.ml.rfm import clv_table, name_segments, rfm_table
from aihub.ml.schema import FeatureSpec, feature_treatments
from aihub.ml.targets import POSITIVE_LABELS, TargetInfo, analyze_target, default_positive_class, target_kind_choices
from aihub.ml.templates import TEMPLATES, list_templates, suggest_config, template_defaults
from aihub.ml.train import Cancelled, train_model

__all__ = [
    "ALGORITHMS",
    "MODEL_TYPES",
    "POSITIVE_LABELS",
    "TASKS",
    "TEMPLATES",
    "Cancelled",
    "Comparison",
    "Explanation",
    "FeatureEngineering",
    "FeatureSpec",
    "FeatureWarning",
    "HyperparameterSpec",
    "TargetInfo",
    "TrainedModel",
    "TrainingConfig",
    "TrainingResult",
    "all_hyperparameter_specs",
    "analyze_target",
    "clv_table",
    "compare_predictions",
    "default_positive_class",
    "detect_column_kind",
    "dump_artifact",
    "explain",
    "feature_treatments",
    "global_importance",
    "hyperparameter_specs",
    "infer_task",
    "leakage_warnings",
    "list_templates",
    "load_artifact",
    "name_segments",
    "parse_numeric",
    "predict",
    "predict_one",
    "read_metadata",
    "resolve_key",
    "rfm_table",
    "suggest_config",
    "summarize",
    "target_kind_choices",
    "template_defaults",
    "train_model",
    "validate_rows",
]
