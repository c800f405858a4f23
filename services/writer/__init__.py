"""The single writer: message events → PostgreSQL → message-committed events."""
