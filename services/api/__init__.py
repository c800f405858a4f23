"""The history API: the archive read over HTTP (FastAPI), the fourth deployable service (issue 12).

:func:`~services.api.app.create_app` builds the app; routes live one router per module in
:mod:`services.api.routes`, their SQL in :mod:`services.api.queries`, their JSON shapes in
:mod:`services.api.models`. The app reads PostgreSQL through a pool whose connections default to
read-only transactions, and each request reads in a read-only transaction: it cannot write. It
fetches nothing itself: a range the archive does not cover is asked of a
:class:`tgpipe.kafka.fetch.RangeFetcher`, when one is given. docs/api.md describes the endpoints.
"""
