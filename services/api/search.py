"""Full-text search of the archive (read only): :func:`search`, for the API route and the web viewer.

The query language and the matching rules are :mod:`tgpipe.db.search`'s; this module turns a parsed
query into one SQL statement over ``messages`` (current texts) or ``message_versions`` (every text
version), whose ``search_vector`` GIN index (migration 0009) finds the candidates.

**Rank** (higher first): for each positive item, ``tf`` = how often its needle occurs in the
message's ``search_text``, scored ``tf · 2.2 / (tf + 1.2 · (0.25 + 0.75 · length / 100))`` (the
term-frequency part of BM25, ``k1`` 1.2, ``b`` 0.75, ``length`` the characters of ``search_text``,
100 taken as the average) and summed. Ties: newest first, then chat id, message id (descending)
and, for versions, ``text_sha256``. Pages are keyset pages over that order (``cursor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from services.api import cursor as cursors
from services.api.models import HitVersion, SearchHit, SearchPage, Segment, Sender
from services.api.problems import bad_parameter
from tgpipe.db.search import Query, QueryError, highlight, parse_query

#: The longest query accepted (characters).
MAX_QUERY_LENGTH = 500

_RANK = """(SELECT coalesce(sum(f.tf * 2.2 / (f.tf + 1.2 * (0.25 + 0.75 * length({t}.search_text) / 100.0))), 0)
            FROM (SELECT (length(d.doc) - length(replace(d.doc, n, ''))) / length(n)::float8 AS tf
                  FROM unnest({needles}::text[]) AS n) AS f)"""
_CURRENT_VERSION = "encode(sha256(convert_to(m.text || chr(31) || m.entities::text, 'UTF8')), 'hex')"
_SOURCES = {
    "current": ("m", "messages m",
                "NULL::text AS text_sha256, NULL::timestamptz AS valid_from, NULL::timestamptz AS version_edit_date, "
                "NULL::boolean AS current"),
    "all": ("v", "message_versions v JOIN messages m ON m.channel_id = v.channel_id AND m.message_id = v.message_id",
            f"v.text_sha256, v.valid_from, v.edit_date AS version_edit_date, v.text_sha256 = {_CURRENT_VERSION} "
            "AS current"),
}
_SEARCH = """
SELECT * FROM (
    SELECT m.channel_id, ch.title AS chat_title, m.message_id, m.date, m.sender_type, m.sender_id,
           s.name AS sender_name, m.deleted_at, {t}.text, {version},
           {rank} AS rank
    FROM {source}
    JOIN channels ch ON ch.channel_id = m.channel_id
    LEFT JOIN senders s ON s.peer_type = m.sender_type AND s.peer_id = m.sender_id
    CROSS JOIN LATERAL (SELECT ' ' || {t}.search_text || ' ' AS doc) AS d
    WHERE {t}.search_vector @@ {tsquery}::tsquery {conditions}
) AS hit
{after}
ORDER BY rank DESC, date DESC, channel_id DESC, message_id DESC, text_sha256 COLLATE "C" DESC
LIMIT {limit}
"""


@dataclass(frozen=True)
class SearchQuery:
    """What to search for.

    ``q``: the query text (tgpipe.db.search: words, ``"phrases"``, ``-exclusions``; at most
    :data:`MAX_QUERY_LENGTH` characters). ``chat_id``: one chat only; ``sender``: one sender id
    only; ``start``/``end``: message dates, inclusive (aware datetimes). ``versions``: ``current``
    searches each message's current text (``messages``), ``all`` every text version
    (``message_versions``; a hit per matching version). ``limit``: hits per page (the caller caps
    it). ``cursor``: a page's ``next_cursor``, to continue the same query.
    """

    q: str
    chat_id: int | None = None
    sender: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    versions: Literal["current", "all"] = "current"
    limit: int = 20
    cursor: str | None = None


def parse(q: str) -> Query:
    """The parsed query ``q``.

    Raises:
        Problem: 422 naming ``q`` when it is too long or cannot be searched (QueryError's reason).
    """
    if len(q) > MAX_QUERY_LENGTH:
        raise bad_parameter("q", f"longer than {MAX_QUERY_LENGTH} characters")
    try:
        return parse_query(q)
    except QueryError as exc:
        raise bad_parameter("q", str(exc)) from None


def statement(parsed: Query, query: SearchQuery) -> tuple[str, list[object]]:
    """The SQL of a search and its arguments (every value a parameter; the SQL is made of fixed pieces
    only): what :func:`search` runs, and what bench/search.py explains. Raises as :func:`search`."""
    args: list[object] = []

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    t, source, version = _SOURCES[query.versions]
    required, excluded = parsed.like_patterns()
    conditions = []
    if required:
        conditions.append(f"d.doc LIKE ALL ({arg(required)}::text[])")
    if excluded:
        conditions.append(f"NOT (d.doc LIKE ANY ({arg(excluded)}::text[]))")
    for value, condition in ((query.chat_id, "m.channel_id = {}"), (query.sender, "m.sender_id = {}"),
                             (query.start, "m.date >= {}"), (query.end, "m.date <= {}")):
        if value is not None:
            conditions.append(condition.format(arg(value)))
    after = ""
    if query.cursor is not None:
        key = cursors.decode_hit(query.cursor)
        names = "rank, date, channel_id, message_id"
        values = ", ".join(arg(v) for v in key[:4])
        if query.versions == "all":
            names, values = f'{names}, text_sha256 COLLATE "C"', f"{values}, {arg(key[4] or '')}"
        after = f"WHERE ({names}) < ({values})"
    rank = _RANK.format(t=t, needles=arg([c.needle for c in parsed.positive]))
    sql = _SEARCH.format(t=t, source=source, version=version, rank=rank, tsquery=arg(parsed.tsquery()),
                         conditions="".join(f"\n      AND {c}" for c in conditions), after=after,
                         limit=arg(query.limit + 1))
    return sql, args


def _hit(row: asyncpg.Record, parsed: Query) -> SearchHit:
    sender = (Sender(type=row["sender_type"], id=row["sender_id"], name=row["sender_name"])
              if row["sender_id"] is not None else None)
    version = (HitVersion(text_sha256=row["text_sha256"], valid_from=row["valid_from"],
                          edit_date=row["version_edit_date"], current=row["current"])
               if row["text_sha256"] is not None else None)
    return SearchHit(chat_id=row["channel_id"], chat_title=row["chat_title"], message_id=row["message_id"],
                     date=row["date"], sender=sender, deleted_at=row["deleted_at"], rank=row["rank"],
                     snippet=[Segment(text=text, match=match) for text, match in highlight(row["text"], parsed)],
                     version=version)


async def search(conn: asyncpg.Connection, query: SearchQuery) -> SearchPage:
    """One page of the messages (or text versions) matching ``query``, best first.

    ``conn``: any connection to a database migrated to 0009 or later (the API's are read only).
    Returns at most ``query.limit`` hits, with ``next_cursor`` when more follow.

    Raises:
        Problem: 422 naming ``q`` (too long, unbalanced quote, nothing to search for, too many
            words) or ``cursor`` (not a cursor this API gave).
    """
    parsed = parse(query.q)
    sql, args = statement(parsed, query)
    rows = await conn.fetch(sql, *args)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    last = rows[-1] if rows else None
    next_cursor = (cursors.encode_hit((last["rank"], last["date"], last["channel_id"], last["message_id"],
                                       last["text_sha256"])) if more and last is not None else None)
    return SearchPage(q=query.q, hits=[_hit(r, parsed) for r in rows], next_cursor=next_cursor)
