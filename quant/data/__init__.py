"""Video data: embedded synthetic tasks and a loader for real datasets."""
