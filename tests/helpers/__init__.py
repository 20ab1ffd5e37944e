"""Shared test data: files in every format (formats) and a small reviewed project (review). SYNTHETIC."""
