"""Live Telegram collection through Telethon.

* :mod:`.client`: the small interface tgpipe needs from Telegram (:class:`~.client.TelegramClient`)
  and its Telethon implementation; tests drive everything through the same interface with a fake
  that yields real Telethon objects.
* :mod:`.mapping`: pure mapping of Telethon objects to event payloads (no I/O).
* :mod:`.flood`: FloodWait handling with bounded, jittered waits and a per-account budget.
* :mod:`.peers`: resolve a channel once and remember it in PostgreSQL (``channel_peers``).
* :mod:`.collector`: backfill from the database cursor, reconcile, gap check, live follow.
* :mod:`.session`: the Telethon session string (``tgpipe login``) and building a client.
"""
