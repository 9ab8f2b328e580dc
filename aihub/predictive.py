"""Deprecated home of the predictive-model services; they live in :mod:`aihub.services` now.

* :mod:`aihub.services.model_config`: form choices, templates, target profile, config builders and checks;
* :mod:`aihub.services.model_training`: create, train (the job handler), versions;
* :mod:`aihub.services.model_cache`: verified models in memory;
* :mod:`aihub.services.predictions`: single predictions, comparisons, the form, serving statistics;
* :mod:`aihub.services.batch_predictions`: files predicted and stored in bulk;
* :mod:`aihub.services.outcomes`: outcomes and live accuracy.

This module re-exports their public names for callers not moved yet.
"""

from aihub.services.batch_predictions import MAX_BATCH_ERRORS, BatchOutcome, batch_results, list_batches, predict_batch
from aihub.services.model_cache import MODEL_CACHE_SIZE
from aihub.services.model_cache import forget as _forget_models
from aihub.services.model_cache import load as _load_model
from aihub.services.model_config import (
    ARTIFACT_FORMAT,
    DEFAULT_TOLERANCE,
    ML_KIND,
    check_config,
    feature_warnings,
    form_options,
    template_config,
)
from aihub.services.model_training import (
    VersionDetails,
    compare_versions,
    create_model,
    list_models,
    train,
    version_details,
)
from aihub.services.outcomes import (
    MIN_FEEDBACK,
    FeedbackOutcome,
    VersionAccuracy,
    live_accuracy,
    record_outcome,
    record_outcomes,
    set_accuracy_tolerance,
)
from aihub.services.predictions import (
    PredictionForm,
    PredictionOutcome,
    compare_predictions,
    get_prediction,
    list_predictions,
    predict_one,
    prediction_form,
    serving_stats,
)

__all__ = [
    "ARTIFACT_FORMAT", "DEFAULT_TOLERANCE", "MAX_BATCH_ERRORS", "MIN_FEEDBACK", "ML_KIND", "MODEL_CACHE_SIZE",
    "BatchOutcome", "FeedbackOutcome", "PredictionForm", "PredictionOutcome", "VersionAccuracy", "VersionDetails",
    "_forget_models", "_load_model", "batch_results", "check_config", "compare_predictions", "compare_versions",
    "create_model", "feature_warnings", "form_options", "get_prediction", "list_batches", "list_models",
    "list_predictions", "live_accuracy", "predict_batch", "predict_one", "prediction_form", "record_outcome",
    "record_outcomes", "serving_stats", "set_accuracy_tolerance", "template_config", "train", "version_details",
]
