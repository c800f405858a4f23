"""The ``tgpipe`` command: one Typer sub-app per module, put together here (FastStream's ``cli/main.py``).

Top-level commands (in ``--help`` order): ``archive`` and ``verify`` (:mod:`.archive`), ``writer``
and ``media`` (:mod:`.services`), ``api`` and ``serve`` (:mod:`.api`), ``login`` (:mod:`.login`), ``replay`` (:mod:`.replay`),
``status`` (:mod:`.status`); groups: ``collector`` (:mod:`.collector`), ``db`` (:mod:`.db`),
``dlq`` (:mod:`.dlq`), ``docs`` (:mod:`.docs`). Options shared by several commands are in
:mod:`.options`, every table in :mod:`.render`, and errors become exit codes in :mod:`.base` only
(codes: :mod:`.status_codes`). All configuration comes from :class:`tgpipe.settings.Settings`
(``TGPIPE_*``).
"""

from __future__ import annotations

import typer

from tgpipe.cli import api, archive, collector, db, dlq, docs, login, replay, services, status

app = typer.Typer(help="Archive Telegram chats into PostgreSQL through Kafka, with their photos.",
                  no_args_is_help=True, pretty_exceptions_enable=False)

for commands in (archive.app, services.app, api.app, login.app, replay.app, status.app):
    app.add_typer(commands)
app.add_typer(collector.app, name="collector")
app.add_typer(db.app, name="db")
app.add_typer(dlq.app, name="dlq")
app.add_typer(docs.app, name="docs")
