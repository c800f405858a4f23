"""Collector service: reads Telegram exports (and Telegram itself) and publishes message events."""
