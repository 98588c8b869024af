"""furet.cli."""
