"""Live Telegram collection through Telethon (the collector's own logic).

* :mod:`.mapping`: pure mapping of Telethon objects to event payloads (no I/O).
* :mod:`.collector`: backfill from the database cursor, reconcile, gap check, live follow.

The Telegram client itself (interface, Telethon implementation, flood budget, peers, session)
is shared with the media service and lives in :mod:`tgpipe.telegram`.
"""
