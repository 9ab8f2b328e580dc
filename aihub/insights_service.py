"""Moved to :mod:`aihub.services.insights`; this name stays for callers not yet moved (the same module object)."""

import sys

from aihub.services import insights as _moved

sys.modules[__name__] = _moved
