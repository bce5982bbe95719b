"""Data sources behind the query core."""
