"""AI Analytics Hub core package.

Everything here runs without Streamlit: the web pages, the ``aihub`` command
line, the background worker and the tests all call into this package.
"""

__version__ = "0.1.0"
