"""The one table of forecast frequencies: seasons, MASE period, horizons, history caps, minimum lengths.

Every other place -- :mod:`aihub.forecasting` (series, models, ``auto``, file mode), the forecast service and
the Forecasts screen -- reads :data:`FREQUENCY_TABLE` (or the dicts derived from it below); nothing else
defines a frequency's numbers.

Sources of the numbers
----------------------
* Seasonal periods follow FPP3 12.1 ("Complex seasonality": 24 and 168 for hourly data, 7 and 365.25 for
  daily data) and the M4 competition's frequencies (Makridakis, Spiliotis & Assimakopoulos 2020, IJF 36(1)).
  The first season is the *primary* one (seasonal naive, seasonal ETS and Theta); MSTL (Bandara, Hyndman &
  Bergmeir 2021) takes all of them. 365.25 is rounded to 365 (MSTL needs whole periods).
* ``mase_m``, the period that scales MASE, is M4's: 24 hourly, 1 daily and weekly, 12 monthly, 4 quarterly,
  1 yearly; the sub-hourly ones use the daily cycle as hourly does (96 and 48).
* ``default_horizon`` is M4's horizon where M4 has the frequency (48 hours, 14 days, 13 weeks, 8 quarters,
  6 years; 12 months rather than 18, a business year); a day for 15- and 30-minute data.
* ``max_horizon``: two years of daily to quarterly periods (730 days, 104 weeks, 24 months, 8 quarters), ten
  years, and two weeks of intraday periods (an intraday forecast beyond that is better made daily).
* ``max_history``: the default cap on fitted periods, set by compute (fitting time grows with length), never
  shorter than two cycles of the longest season: five years of weeks, three years of days, eight weeks of
  hours, four weeks of 30- and 15-minute periods; all of them for monthly and slower data.
* ``min_periods``: fewest periods a model is trained on: two days of intraday data, two weeks of days, eight
  periods otherwise (six years).
* ``holidays``: whether country holidays are offered as calendar features (a holiday is a day: daily and
  intraday data only, as in Prophet).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Frequency:
    """One forecast frequency.

    Attributes
    ----------
    code : str
        The value of ``freq`` everywhere (``"H"``, ``"D"``, ...).
    label : str
        Analyst-facing adjective ("hourly").
    period : str
        Singular period name used in messages ("a 48-hour horizon").
    seasons : tuple of int
        Seasonal periods in observations, primary first.
    mase_m : int
        Period of the seasonal naive forecast that scales MASE.
    default_horizon, max_horizon : int
        Horizon offered by the form, and the largest accepted, in periods.
    max_history : int or None
        Default cap on the periods a model is fitted on (None: all).
    min_periods : int
        Fewest periods accepted for training.
    holidays : bool
        Whether country holidays can be used as calendar features.
    tick : pandas.Timedelta or None
        Length of one period when it is fixed (intraday, daily, weekly); None for calendar months.
    grid : str
        pandas alias of the regular grid of period labels.
    """

    code: str
    label: str
    period: str
    seasons: tuple[int, ...]
    mase_m: int
    default_horizon: int
    max_horizon: int
    max_history: int | None
    min_periods: int
    holidays: bool
    tick: pd.Timedelta | None
    grid: str

    @property
    def season_length(self) -> int:
        """The primary seasonal period (1: none)."""
        return self.seasons[0]

    @property
    def intraday(self) -> bool:
        """Whether periods are shorter than a day."""
        return self.code in ("15min", "30min", "H")

    @property
    def months(self) -> int:
        """Calendar months in one period (0 for day-based frequencies)."""
        return {"M": 1, "Q": 3, "Y": 12}.get(self.code, 0)


_DAY, _WEEK = 24, 24 * 7
FREQUENCY_TABLE: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency("15min", "15-minute", "15-minute period", (4 * _DAY, 4 * _WEEK), 4 * _DAY, 4 * _DAY,
                  4 * 24 * 14, 4 * _WEEK * 4, 4 * _DAY * 2, True, pd.Timedelta(minutes=15), "15min"),
        Frequency("30min", "30-minute", "30-minute period", (2 * _DAY, 2 * _WEEK), 2 * _DAY, 2 * _DAY,
                  2 * 24 * 14, 2 * _WEEK * 4, 2 * _DAY * 2, True, pd.Timedelta(minutes=30), "30min"),
        Frequency("H", "hourly", "hour", (_DAY, _WEEK), _DAY, 48, 24 * 14, _WEEK * 8, 2 * _DAY, True,
                  pd.Timedelta(hours=1), "h"),
        Frequency("D", "daily", "day", (7, 365), 1, 14, 730, 3 * 365, 14, True, pd.Timedelta(days=1), "D"),
        Frequency("W", "weekly", "week", (52,), 1, 13, 104, 260, 8, False, pd.Timedelta(weeks=1), "W-MON"),
        Frequency("M", "monthly", "month", (12,), 12, 12, 24, None, 8, False, None, "MS"),
        Frequency("Q", "quarterly", "quarter", (4,), 4, 8, 8, None, 8, False, None, "QS-JAN"),
        Frequency("Y", "yearly", "year", (1,), 1, 6, 10, None, 6, False, None, "YS-JAN"),
    )
}

#: ``freq`` code -> analyst-facing name ("hourly").
FREQUENCIES: dict[str, str] = {k: f.label for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> singular period name ("hour").
PERIOD_NAMES: dict[str, str] = {k: f.period for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> primary seasonal period in observations.
SEASON_LENGTH: dict[str, int] = {k: f.season_length for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> every seasonal period (MSTL), primary first.
SEASONS: dict[str, tuple[int, ...]] = {k: f.seasons for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> period scaling MASE (M4's conventions; ``forecast_eval.py --m``).
MASE_PERIOD: dict[str, int] = {k: f.mase_m for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> largest horizon accepted.
MAX_HORIZON: dict[str, int] = {k: f.max_horizon for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> horizon the form offers first.
DEFAULT_HORIZON: dict[str, int] = {k: f.default_horizon for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> default cap on the fitted history (None: all).
DEFAULT_MAX_HISTORY: dict[str, int | None] = {k: f.max_history for k, f in FREQUENCY_TABLE.items()}
#: ``freq`` code -> fewest periods accepted for training.
MIN_PERIODS_BY_FREQ: dict[str, int] = {k: f.min_periods for k, f in FREQUENCY_TABLE.items()}
#: Frequencies whose forecasts can use country holidays.
HOLIDAY_FREQUENCIES: tuple[str, ...] = tuple(k for k, f in FREQUENCY_TABLE.items() if f.holidays)

#: Median spacing (in days) each frequency is inferred from, as (low, high).
_SPACING_DAYS: dict[str, tuple[float, float]] = {
    "15min": (14 / 1440, 16 / 1440),
    "30min": (28 / 1440, 32 / 1440),
    "H": (55 / 1440, 65 / 1440),
    "D": (0.9, 1.1),
    "W": (6.5, 7.5),
    "M": (27.5, 31.5),
    "Q": (88.0, 93.0),
    "Y": (364.0, 367.0),
}


def freq_from_spacing(days: float) -> str | None:
    """The frequency whose period is ``days`` long (the median spacing of dates), or None."""
    for code, (low, high) in _SPACING_DAYS.items():
        if low <= days <= high:
            return code
    return None


def spacing_help() -> str:
    """One sentence listing the supported frequencies, for error messages."""
    return "supported are " + ", ".join(f"{f.label} ({k})" for k, f in FREQUENCY_TABLE.items())
