"""Every plotly figure of the hub, built from plain records and DataFrames so screens only place them.

forecasts
    History, forecast band and actuals; backtest errors.
predictions
    ROC and precision-recall curves, confusion matrix, segments, importance, SHAP contributions, versions.
dashboard
    Prediction volume, live accuracy, deployments, anomaly severities and trend, feature usage.
anomalies
    An anomaly's snapshot: actual values, expected band, anomalies by severity, the point circled.
insights
    The chart an insight carries (its JSON spec, see :func:`aihub.insights.charts.chart_spec`).
analytics
    Recommendations, prices, inventory, sentiment, customer value and next best actions.

Charts import plotly, pandas and core constants only; never a service, a store or streamlit.
This ``__init__`` imports nothing: ``from aihub.charts import forecasts``.
"""
