"""Services: permission check, one unit of work, a principal first (see the layer rules in HELPERS/README)."""
