"""Telegram: the TelegramClient interface and its Telethon implementation, flood budget, peers, session (used by the collector and the media service)."""
