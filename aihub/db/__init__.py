"""Database access: ORM schema, engines, tenant-bound sessions and stores.

Only this package talks SQL. Callers get plain dataclasses back.
"""
