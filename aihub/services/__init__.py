"""Services: permission check, one unit of work, records out (see README "Layout")."""
