"""The detector of every insight type, in one table the engine reads.

``DETECTORS[insight_type] = (source, detector)``: ``source`` is the
attribute of :class:`~aihub.insights.inputs.InsightInputs` holding the
detector's inputs (a list); ``detector(input, context)`` returns a list of
unranked :class:`~aihub.insights.model.Insight` (see
:mod:`aihub.insights.detectors` for the contract).

Adding an insight type (for example a "sentiment dropped" type fed by
:mod:`aihub.sentiment`):

1. an input contract (a dataclass validating its frame, like
   :class:`~aihub.insights.tables.TableInput`) and a field for it in
   :class:`~aihub.insights.inputs.InsightInputs` (plus its name in
   ``InsightInputs.coerce``);
2. a detector module whose table maps the type to ``(source, detector)``,
   merged below (detectors build insights with
   :func:`aihub.insights.detectors._make`);
3. the type's name in :data:`aihub.insights.model.INSIGHT_TYPES`, its weight
   in :data:`aihub.insights.params.DEFAULT_TYPE_WEIGHTS` and its validity in
   :data:`aihub.insights.params.DEFAULT_VALIDITY_DAYS`;
4. its narrative templates (``TEMPLATES``/``CLAUSES``/``EXTRA_ACTIONS``
   entries merged into :mod:`aihub.insights.narratives`, as
   :mod:`aihub.insights.table_narratives` does).

``tests/core/test_insights_tables.py::test_every_insight_type_is_fully_registered``
fails until all four are in place.
"""

from __future__ import annotations

from aihub.insights.detectors import DETECTORS as ORDERS_AND_MODEL_DETECTORS
from aihub.insights.sentiment_insights import SENTIMENT_DETECTORS
from aihub.insights.table_detectors import TABLE_DETECTORS

__all__ = ["DETECTORS"]

#: Detector of each insight type and the input it reads.
DETECTORS = {**ORDERS_AND_MODEL_DETECTORS, **TABLE_DETECTORS, **SENTIMENT_DETECTORS}
