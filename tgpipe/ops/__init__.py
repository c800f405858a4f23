"""Operator jobs (archive, replay, verify, status, gaps, AsyncAPI): they return results, the CLI prints them."""
