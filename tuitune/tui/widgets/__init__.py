"""Reusable widgets of the app: modals, metric panels, the run table, charts, the log tail."""
