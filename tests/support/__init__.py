"""Importable test helpers (database, broker, env, waiting, factories, Telegram fake, TCP proxy)."""
