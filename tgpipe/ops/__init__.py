"""Operator jobs (archive, replay, verify, status, AsyncAPI): they return results, the CLI prints."""
