"""One file per screen: wizard (new run), training, history, run detail, compare, help."""
