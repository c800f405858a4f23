"""Telegram through Telethon, shared by the collector and the media service.

* :mod:`.client`: the small interface tgpipe needs from Telegram (:class:`~.client.TelegramClient`)
  and its Telethon implementation; tests drive everything through the same interface with a fake
  that yields real Telethon objects (``tests/support/telegram.py``).
* :mod:`.flood`: FloodWait handling with bounded, jittered waits and a per-account budget.
* :mod:`.peers`: resolve a channel once and remember it in PostgreSQL (``channel_peers``).
* :mod:`.session`: the Telethon session string (``tgpipe login``) and building a client.
* :mod:`.photos`: which size of a photo to record and download.
"""
