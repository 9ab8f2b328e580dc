"""Moved to :mod:`aihub.services.forecasts`; this name stays for callers not yet moved (the same module object)."""

import sys

from aihub.services import forecasts as _moved

sys.modules[__name__] = _moved
