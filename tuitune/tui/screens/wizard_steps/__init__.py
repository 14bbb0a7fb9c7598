"""The four steps of the new-run wizard, and the form they share."""
