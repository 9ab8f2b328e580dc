"""Price elasticity, demand at a price and price recommendation.

:mod:`aihub.pricing.demand` (shrunken elasticities, anchored or regression demand
chosen by an inner time split), :mod:`aihub.pricing.recommend` (a price inside
the user's bounds only when the data support it), :mod:`aihub.pricing.panel`.
"""

from aihub.pricing.demand import LITERATURE_ELASTICITY, ElasticityModel, PricingParams, fit_elasticity, predict_quantity
from aihub.pricing.panel import price_panel
from aihub.pricing.recommend import RECOMMENDATION_FIELDS, PriceBounds, recommend_price

__all__ = ["LITERATURE_ELASTICITY", "RECOMMENDATION_FIELDS", "ElasticityModel", "PriceBounds", "PricingParams",
           "fit_elasticity", "predict_quantity", "price_panel", "recommend_price"]
