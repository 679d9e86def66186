"""Reports over the stored events in plain SQL and Python (no numpy): summary metrics and targets,
the staff report, the agenda."""
