"""Services: the layer between the stores (``aihub.db``) and the workflows, runtime and screens.

A service function takes a :class:`~aihub.auth.Principal`, checks its permission
(:func:`aihub.auth.require`), does one unit of work through the ``aihub.db``
stores and the pure core packages, and returns records (dataclasses), never ORM
objects or sessions. Services never import ``aihub.workflows``, ``aihub.runtime``,
``pages`` or streamlit; to tell automation that something happened they publish an
event (:mod:`aihub.events`), and to run work in the background they defer a task by
name (:mod:`aihub.queue`).

Naming rule: one module per thing an analyst or admin works with, named for it in the
plural or as the noun of the activity (``sources``, ``datasets``, ``forecasts``,
``predictions``, ``monitors``, ``anomalies``, ``insights``, ``users``, ``dashboard``,
``health``, ``jobs``, ``usage``), never for a technique or a helper (no ``utils``,
``helpers``, ``manager``, ``service`` suffixes). A module that grows past one concern
splits along its concerns (``model_config``, ``model_training``, ``model_cache``,
``predictions``, ``batch_predictions``, ``outcomes``).

This ``__init__`` stays empty of imports: import the module you need
(``from aihub.services import sources``), so importing one service never loads all of them.
"""
