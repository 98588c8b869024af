"""furet.services."""
