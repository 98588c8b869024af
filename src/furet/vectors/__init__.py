"""furet.vectors."""
