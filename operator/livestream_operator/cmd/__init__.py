"""Process entry points: each composes the packages one process runs."""
