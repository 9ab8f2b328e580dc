"""The batch path of :func:`aihub.ml.predict` gives exactly what the straightforward path gives.

The batch path works per issue, not per row, for its messages, and parses each column once (the pipeline's
``FrameCoercer`` is not run again on the frame :func:`aihub.ml.validate.validate` already parsed). The
references here are the plain versions: messages gathered row by row, and the whole pipeline run on the
cleaned rows.
"""

from __future__ import annotations

import numpy as np
import pytest

from aihub.ml.predict import _messages
from aihub.ml.validate import RowIssue


def _messages_row_by_row(issues: list[RowIssue], n: int) -> tuple[list, list]:
    """The former ``_messages``: a list per row, joined."""
    errors: list = [None] * n
    warns: list[list[str]] = [[] for _ in range(n)]
    for iss in issues:
        if iss.fatal:
            errors[iss.row - 1] = iss.message if errors[iss.row - 1] is None else errors[iss.row - 1] + "; " + iss.message
        else:
            warns[iss.row - 1].append(iss.message)
    return errors, ["; ".join(w) if w else None for w in warns]


@pytest.mark.parametrize("seed", range(5))
def test_messages_equal_the_row_by_row_reference(seed) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    rows = np.sort(rng.integers(1, n + 1, 200))
    issues = [RowIssue(int(r), f"c{k}", None, f"row {r}: m{k}", fatal=bool(rng.random() < 0.4))
              for k, r in enumerate(rows)]
    issues.sort(key=lambda x: (x.row, not x.fatal))
    got, want = _messages(issues, n), _messages_row_by_row(issues, n)
    assert got == want
    assert any(e and ";" in e for e in got[0]) and any(w and ";" in w for w in got[1])  # joins were exercised
    assert _messages([], 4) == ([None] * 4, [None] * 4)
