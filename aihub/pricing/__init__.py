"""Price elasticity (log-log, partially pooled) and price recommendation: see :mod:`aihub.pricing.core`."""

from aihub.pricing.core import (
    ElasticityModel,
    PriceBounds,
    PricingParams,
    fit_elasticity,
    predict_quantity,
    price_panel,
    recommend_price,
)

__all__ = ["ElasticityModel", "PriceBounds", "PricingParams", "fit_elasticity", "predict_quantity", "price_panel",
           "recommend_price"]
