"""Next best action per at-risk customer of a binary classification model: see :mod:`aihub.nba.core`."""

from aihub.nba.core import (
    OUTPUT_COLUMNS,
    Actionable,
    ActionParams,
    cross_fitted_models,
    next_best_actions,
    parse_actionable,
)

__all__ = ["OUTPUT_COLUMNS", "ActionParams", "Actionable", "cross_fitted_models", "next_best_actions",
           "parse_actionable"]
