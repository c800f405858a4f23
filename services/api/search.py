"""Full-text search of the archive (read only): :func:`search`, for the API route and the web viewer.

The query language and the matching rules are :mod:`tgpipe.db.search`'s; this module turns a parsed
query into one SQL statement over ``messages`` (current texts) or every text version (the superseded
ones of ``message_versions`` and the current ones of ``messages``, migration 0013), whose
``search_vector`` GIN indexes (migration 0009) find the candidates.

**Sort** ``date``: newest first, by ``(date, chat id, message id[, text_sha256])`` descending, a
keyset walk of ``messages_chat_date_idx`` (within a chat) or ``messages_date_idx`` (across chats,
migration 0010) filtered by the query, so a page of a common term reads about a page's worth of
rows (a rare term's few matches are fetched through the GIN index and sorted instead: the planner
chooses by its estimate of the matches).

**Sort** ``rank`` (higher first): for each positive item, ``tf`` = how often its needle occurs in
the message's ``search_text``, scored ``tf · 2.2 / (tf + 1.2 · (0.25 + 0.75 · length / 100))``
(the term-frequency part of BM25, ``k1`` 1.2, ``b`` 0.75, ``length`` the characters of
``search_text``, 100 taken as the average) and summed. Ties: newest first, then chat id, message id
(descending) and, for versions, ``text_sha256``. Only the newest ``rank_window`` matches are ranked
(the *rank window*; every match when there are no more): ranking means fetching and scoring every
candidate, seconds for a term in 250,000 messages. The first page finds the window (the newest
``rank_window + 1`` matches, newest first, as ``date`` does); when it is cut, later pages rank the
matches at or after its oldest (the cursor's ``edge``), so the pages of one query rank one set.
Pages are keyset pages over the order (``cursor``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import asyncpg

from services.api import cursor as cursors
from services.api.cursor import Sort
from services.api.models import HitVersion, RankWindow, SearchHit, SearchPage, Segment, Sender
from services.api.problems import bad_parameter
from tgpipe.db.search import Query, QueryError, highlight, parse_query
from tgpipe.settings import Settings

#: The longest query accepted (characters).
MAX_QUERY_LENGTH = 500

#: How many matches a ``sort=rank`` search ranks at most, by default (the newest; the API's
#: setting ``api_search_rank_window``). Ranking costs about 18 µs a match (docs/performance.md).
RANK_WINDOW: int = Settings.model_fields["api_search_rank_window"].default

# A positive item's score (needle {n}); a sum of these, inline (a subquery per row costs three times as
# much); tf from byte lengths (octet_length is O(1), length counts characters).
_TF = "(octet_length(d.doc) - octet_length(replace(d.doc, {n}::text, ''))) / octet_length({n}::text)::float8"
_SCORE = f"{_TF} * 2.2 / ({_TF} + 1.2 * (0.25 + 0.75 * length({{t}}.search_text) / 100.0))"
# Every text version with its search columns and its message's key: the superseded ones from
# message_versions, the current ones from messages (migration 0013: a current version's row there has
# NULL text and search columns), with their version hash. The query's conditions reach both parts, so
# each is found through its own GIN index, or walked newest first through messages_date_idx.
_EVERY_VERSION = """(
    SELECT m.channel_id, m.message_id, m.date, m.sender_id, v.text_sha256, v.search_text, v.search_vector
    FROM message_versions v JOIN messages m ON m.channel_id = v.channel_id AND m.message_id = v.message_id
    WHERE v.text IS NOT NULL
    UNION ALL
    SELECT channel_id, message_id, date, sender_id,
           encode(sha256(convert_to(text || chr(31) || entities::text, 'UTF8')), 'hex'), search_text, search_vector
    FROM messages) m"""


@dataclass(frozen=True)
class _Source:
    """Where a search looks: the alias holding the search columns (``t``), the ``FROM`` of the
    candidates, their ``text_sha256`` and the newest-first key (columns of the candidates' ``FROM``), and
    how a hit is joined back for display (``join``) with its text (``text``) and its version's columns
    (``version``)."""

    t: str
    source: str
    sha: str
    key: tuple[str, ...]
    join: str
    text: str
    version: str


_M = "m.channel_id = hit.channel_id AND m.message_id = hit.message_id"
_SOURCES = {
    "current": _Source(
        "m", "messages m", "NULL::text", ("m.date", "m.channel_id", "m.message_id"), f"messages m ON {_M}", "m.text",
        "NULL::timestamptz AS valid_from, NULL::timestamptz AS version_edit_date, NULL::boolean AS current"),
    "all": _Source(
        "m", _EVERY_VERSION, "m.text_sha256", ("m.date", "m.channel_id", "m.message_id", 'm.text_sha256 COLLATE "C"'),
        "message_versions v ON v.channel_id = hit.channel_id AND v.message_id = hit.message_id "
        f"AND v.text_sha256 = hit.text_sha256 JOIN messages m ON {_M}", "coalesce(v.text, m.text) AS text",
        "v.valid_from, v.edit_date AS version_edit_date, v.text IS NULL AS current"),
}
_SEARCH = """
WITH candidate AS MATERIALIZED (
    SELECT m.channel_id, m.message_id, m.date, {sha} AS text_sha256, ({rank}) AS rank{numbered}
    FROM {source}
    CROSS JOIN LATERAL (SELECT ' ' || {t}.search_text || ' ' AS doc) AS d
    WHERE {t}.search_vector @@ {tsquery}::tsquery {conditions}
    {newest}
), hit AS (
    SELECT * FROM candidate {page}
){edge_cte}
SELECT hit.*, ch.title AS chat_title, m.sender_type, m.sender_id, s.name AS sender_name, m.deleted_at,
       {text}, {version}{edge_columns}
FROM hit
JOIN {join}
JOIN channels ch ON ch.channel_id = m.channel_id
LEFT JOIN senders s ON s.peer_type = m.sender_type AND s.peer_id = m.sender_id{edge}
ORDER BY {order}
"""
_EDGE = """
LEFT JOIN edge ON true"""
# The oldest match the rank window holds, when the window is cut (a row only then).
_EDGE_CTE = """, edge AS MATERIALIZED (
    SELECT date AS edge_date, channel_id AS edge_chat_id, message_id AS edge_message_id,
           text_sha256 AS edge_text_sha256
    FROM candidate WHERE newest = {window} AND EXISTS (SELECT FROM candidate WHERE newest > {window})
)"""


@dataclass(frozen=True)
class SearchQuery:
    """What to search for.

    ``q``: the query text (tgpipe.db.search: words, ``"phrases"``, ``-exclusions``; at most
    :data:`MAX_QUERY_LENGTH` characters). ``chat_id``: one chat only; ``sender``: one sender id
    only; ``start``/``end``: message dates, inclusive (aware datetimes). ``versions``: ``current``
    searches each message's current text (``messages``), ``all`` every text version
    (``message_versions``; a hit per matching version). ``sort``: ``rank`` (best first, among the
    newest ``rank_window`` matches) or ``date`` (newest first, every match). ``limit``: hits per
    page (the caller caps it). ``cursor``: a page's ``next_cursor``, to continue the same query.
    """

    q: str
    chat_id: int | None = None
    sender: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    versions: Literal["current", "all"] = "current"
    sort: Sort = "rank"
    rank_window: int = RANK_WINDOW
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

    where = _SOURCES[query.versions]
    cursor = cursors.decode_hit(query.cursor, query.sort) if query.cursor is not None else None
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
    # The newest-first key; within a chat without channel_id, so that a row comparison over it is an
    # index condition of messages_chat_date_idx (channel_id, date, message_id).
    parts = [i for i in range(len(where.key)) if i != 1 or query.chat_id is None]
    newest = ", ".join(f"{where.key[i]} DESC" for i in parts)

    def beyond(bound: cursors.NewestKey, operator: str) -> str:
        values = ", ".join(arg(bound[i] if i < 3 else bound[3] or "") for i in parts)
        return f"({', '.join(where.key[i] for i in parts)}) {operator} ({values})"

    hit_key = [column.split(".", 1)[1] for column in where.key]
    pieces = {"numbered": "", "page": "", "edge": "", "edge_columns": "", "edge_cte": ""}
    if query.sort == "date":
        order = hit_key
        if cursor is not None:
            conditions.append(beyond(cursor.newest, "<"))
        pieces["newest"] = f"ORDER BY {newest} LIMIT {arg(query.limit + 1)}"
    else:
        order = ["rank", *hit_key]
        if cursor is None:
            window = arg(query.rank_window)
            pieces |= {"numbered": f", row_number() OVER (ORDER BY {newest}) AS newest",
                       "newest": f"ORDER BY {newest} LIMIT {window} + 1",
                       "page": f"WHERE newest <= {window}", "edge": _EDGE,
                       "edge_columns": ", edge.*", "edge_cte": _EDGE_CTE.format(window=window)}
        else:
            if cursor.edge is not None:
                conditions.append(beyond(cursor.edge, ">="))
            last = (cursor.rank, *cursor.newest[:3], cursor.newest[3] or "")[:len(order)]
            pieces |= {"newest": "", "page": f"WHERE ({', '.join(order)}) < ({', '.join(map(arg, last))})"}
        pieces["page"] += f" ORDER BY {', '.join(f'{c} DESC' for c in order)} LIMIT {arg(query.limit + 1)}"
    rank = " + ".join(_SCORE.format(t=where.t, n=arg(c.needle)) for c in parsed.positive)
    sql = _SEARCH.format(t=where.t, source=where.source, sha=where.sha, rank=rank, tsquery=arg(parsed.tsquery()),
                         conditions="".join(f"\n      AND {c}" for c in conditions), join=where.join,
                         text=where.text, version=where.version, order=", ".join(f"hit.{c} DESC" for c in order), **pieces)
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


def _edge(row: asyncpg.Record) -> cursors.NewestKey | None:
    """The rank window's edge a first page found (its rows' ``edge_*`` columns), None when uncut."""
    if row.get("edge_date") is None:
        return None
    return row["edge_date"], row["edge_chat_id"], row["edge_message_id"], row["edge_text_sha256"]


async def search(conn: asyncpg.Connection, query: SearchQuery) -> SearchPage:
    """One page of the messages (or text versions) matching ``query``, in ``query.sort`` order.

    ``conn``: any connection to a database migrated to 0010 or later (the API's are read only).
    Returns at most ``query.limit`` hits, with ``next_cursor`` when more follow, and for
    ``sort=rank`` the rank window (``rank_window``) when the matches were more than
    ``query.rank_window``.

    Raises:
        Problem: 422 naming ``q`` (too long, unbalanced quote, nothing to search for, too many
            words) or ``cursor`` (not a cursor this API gave, or one of the other sort).
    """
    parsed = parse(query.q)
    sql, args = statement(parsed, query)
    # A statement of its own each time, so PostgreSQL plans it for these values (a cached one turns
    # generic after five runs: a plan for no term in particular, seconds for a common one).
    rows = await (await conn.prepare(sql)).fetch(*args)
    given = cursors.decode_hit(query.cursor, query.sort) if query.cursor is not None else None
    edge = given.edge if given is not None else (_edge(rows[0]) if rows else None)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        newest = (last["date"], last["channel_id"], last["message_id"], last["text_sha256"])
        next_cursor = cursors.encode_hit(cursors.HitCursor("date", newest) if query.sort == "date" else
                                         cursors.HitCursor("rank", newest, last["rank"], edge))
    window = RankWindow(matches=query.rank_window, since=edge[0]) if edge is not None else None
    return SearchPage(q=query.q, sort=query.sort, rank_window=window, hits=[_hit(r, parsed) for r in rows],
                      next_cursor=next_cursor)
