"""furet.catalog."""
