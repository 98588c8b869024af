"""Pure domain logic: items, labels, class models, selection modes, metrics (numpy only)."""
