"""Full-text search terms, computed in Python so that nothing depends on the database's locale.

PostgreSQL's text-search parser and ``pg_trgm`` decide what a letter is by the database's
``LC_CTYPE`` (under ``C`` they skip every non-ASCII letter). So the archive is tokenised here, and
PostgreSQL only stores and indexes the result as opaque strings: per message (and per text version)
``search_text`` (the tokens below joined by single spaces, in text order) and ``search_vector``
(``array_to_tsvector`` of the terms below; GIN index; migration 0009). Pure: no I/O.

**Normalisation** (:func:`normalise`), in this order:

1. Unicode NFKC, then ``str.casefold`` (``Ё``→``ё``, ``ß``→``ss``, full-width ``Ａ``→``a``,
   Arabic presentation forms → letters), then NFKC again;
2. removed: ZWNJ (U+200C, so ``می‌خواهم`` = ``میخواهم``), ZWJ (U+200D), soft hyphen (U+00AD),
   tatweel (U+0640) and every combining mark of the Arabic blocks (harakat, Quranic marks, the
   superscript alef U+0670, hamza above/below U+0654/U+0655);
3. Arabic/Persian letter variants unified (as Lucene's Arabic and Persian normalisers do):
   ``ي ى``→``ی``, ``ك``→``ک``, ``ة ۀ``→``ه``, ``أ إ آ ٱ``→``ا``; Arabic-Indic and Persian digits →
   ``0-9``;
4. NFC again (a removal may leave a letter beside a mark it composes with).

**Tokens** (:func:`tokens`) of the normalised text, in order: a *CJK run* is a maximal run of Han,
Hiragana, Katakana (with ``ー``) or Hangul characters; a *word* is a letter or digit followed by
the longest run of other letters, digits and combining marks (``\\p{L}\\p{N}`` then
``\\p{L}\\p{M}\\p{N}``), none of them CJK. Everything else separates tokens (punctuation,
spaces, emoji and their variation selectors, ``_``, ``-``, ``'``).

**Terms** (:func:`terms`, what the GIN index holds): a word's first :data:`MAX_TERM` characters;
for a CJK run, its overlapping character bigrams (``中文书`` → ``中文``, ``文书``), or the run itself
when it is one character.

**Queries** (:func:`parse_query`): items separated by spaces; ``"a quoted phrase"``; ``-item``
excludes. An item is normalised and tokenised like the text. Over the tokens ``T`` of a message
joined as ``D = " " + " ".join(T) + " "``, an item with tokens ``t1..tn`` matches when its
*needle* occurs in ``D``: the tokens joined by spaces, with a space before ``t1`` and after ``tn``
unless that token is a CJK token of two characters or more. So a word matches a whole token; a CJK token of 2+ characters matches
anywhere inside a CJK run (a substring); an item of several tokens (a quoted phrase, or
``e-mail``) matches them adjacent and in order, punctuation between them ignored. A one-character
CJK item is a term of its own: it matches a CJK run of exactly that character (searching inside
CJK text needs two characters or more). A message matches when every positive item matches and
no excluded item does. Items without a token (``?``, emoji) are ignored; a query needs one
positive item at least.

The index narrows: the terms of every positive item must all be in ``search_vector``; an item
whose only term decides it (one word up to :data:`MAX_TERM` characters, a CJK token of at most two
characters) needs nothing more; any other is checked against ``search_text`` with ``LIKE '%needle%'``
(byte-wise, locale-independent). Changing these rules needs a migration that recomputes both
columns (as 0009 did).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import regex

#: Index terms hold at most this many characters of a word (a tsvector lexeme is < 2 KiB);
#: longer words are still matched exactly, through ``search_text``.
MAX_TERM = 100
#: At most this many tokens in a query.
MAX_QUERY_TOKENS = 32

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\u30fc"
# Group 1: a CJK run; group 2: a word.
_TOKEN = regex.compile(rf"(?V1)([{_CJK}]+)|([[\p{{L}}\p{{N}}]--[{_CJK}]][[\p{{L}}\p{{M}}\p{{N}}]--[{_CJK}]]*)")
_CJK_CHAR = regex.compile(rf"[{_CJK}]")
_CLUSTER = regex.compile(r"\X")
_ITEM = regex.compile(r'(-?)(?:"([^"]*)"|([^\s"]+))(?=\s|$)')


def _table() -> dict[int, int | str | None]:
    removed = [0x200C, 0x200D, 0x00AD, 0x0640]
    for low, high in ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF)):
        removed += [c for c in range(low, high + 1) if unicodedata.category(chr(c)) == "Mn"]
    table: dict[int, int | str | None] = dict.fromkeys(removed)
    for variants, letter in (("يى", "ی"), ("ك", "ک"), ("ةۀ", "ه"), ("أإآٱ", "ا")):
        table.update({ord(v): letter for v in variants})
    for zero in (0x0660, 0x06F0):
        table.update({zero + d: str(d) for d in range(10)})
    return table


_TABLE = _table()
_TABLE_CHARS = regex.compile("[" + "".join(regex.escape(chr(c)) for c in _TABLE) + "]")


def normalise(text: str) -> str:
    """``text`` normalised for search (the module's rules 1-4): same length or not, same meaning
    for matching. Idempotent."""
    if text.isascii():
        return text.lower()
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    if _TABLE_CHARS.search(folded) is None:  # most texts: nothing to remove or unify (translate is slow)
        return folded
    return unicodedata.normalize("NFC", folded.translate(_TABLE))


def is_cjk(token: str) -> bool:
    """Whether a token (of :func:`tokens`) is a CJK run."""
    return _CJK_CHAR.match(token) is not None


def _split(text: str) -> list[tuple[str, str]]:
    """``(cjk run, "")`` or ``("", word)`` per token of :func:`normalise` (``text``), in order."""
    return _TOKEN.findall(normalise(text))


def tokens(text: str) -> list[str]:
    """The tokens (words and CJK runs) of :func:`normalise` (``text``), in order."""
    return [run or word for run, word in _split(text)]


def _terms(split: list[tuple[str, str]]) -> list[str]:
    out: list[str] = []
    for run, word in split:
        if word:
            out.append(word[:MAX_TERM])
        elif len(run) == 1:
            out.append(run)
        else:
            out += map(str.__add__, run, run[1:])  # overlapping bigrams
    return list(dict.fromkeys(out))


def terms(text: str) -> list[str]:
    """The index terms of ``text``: each distinct word (first :data:`MAX_TERM` characters) and CJK
    bigram (or one-character run), in order of first occurrence."""
    return _terms(_split(text))


@dataclass(frozen=True)
class Document:
    """What the archive stores for a text: ``search_text`` (tokens joined by spaces) and ``terms``
    (joined by spaces; the writer stores ``array_to_tsvector(string_to_array(terms, ' '))``)."""

    search_text: str
    terms: str


def document(text: str) -> Document:
    """The stored search columns of ``text`` (a message's or a version's text), normalising once."""
    split = _split(text)
    return Document(" ".join(run or word for run, word in split), " ".join(_terms(split)))


class QueryError(ValueError):
    """A query that cannot be searched: unbalanced quotes, no positive item, too many tokens."""


@dataclass(frozen=True)
class Clause:
    """One query item: its normalised ``tokens`` and whether it is excluded (``-item``)."""

    tokens: tuple[str, ...]
    exclude: bool

    @property
    def terms(self) -> list[str]:
        """The index terms every matching message holds."""
        return _terms([(token, "") if is_cjk(token) else ("", token) for token in self.tokens])

    @property
    def exact(self) -> bool:
        """Whether the index terms decide the item alone (no ``search_text`` check)."""
        if len(self.tokens) != 1:
            return False
        token = self.tokens[0]
        return len(token) <= (2 if is_cjk(token) else MAX_TERM)

    @property
    def needle(self) -> str:
        """What a matching message's ``" " + search_text + " "`` contains (see the module docstring)."""
        def inside(token: str) -> bool:
            return len(token) > 1 and is_cjk(token)

        return ("" if inside(self.tokens[0]) else " ") + " ".join(self.tokens) + ("" if inside(self.tokens[-1]) else " ")


@dataclass(frozen=True)
class Query:
    """A parsed query: its clauses, positive ones first (at least one), in the order written."""

    clauses: tuple[Clause, ...]

    @property
    def positive(self) -> list[Clause]:
        """The items every hit matches."""
        return [c for c in self.clauses if not c.exclude]

    @property
    def excluded(self) -> list[Clause]:
        """The items no hit matches."""
        return [c for c in self.clauses if c.exclude]

    def tsquery(self) -> str:
        """``tsquery`` text (quoted lexemes, parsed without dictionaries: ``'a' & 'b' & !'c'``) of
        every positive item's terms and of the exact excluded items."""
        parts = [_lexeme(t) for c in self.positive for t in c.terms]
        parts += ["!" + _lexeme(c.terms[0]) for c in self.excluded if c.exact]
        return " & ".join(dict.fromkeys(parts))

    def like_patterns(self) -> tuple[list[str], list[str]]:
        """``(required, excluded)`` ``LIKE`` patterns over ``" " || search_text || " "`` of the items
        the index does not decide alone."""
        return ([f"%{c.needle}%" for c in self.positive if not c.exact],
                [f"%{c.needle}%" for c in self.excluded if not c.exact])

    def matches(self, search_text: str) -> bool:
        """Whether a message whose ``search_text`` this is matches (the rule the SQL implements)."""
        padded = f" {search_text} "
        return (all(c.needle in padded for c in self.positive)
                and not any(c.needle in padded for c in self.excluded))


def _lexeme(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def parse_query(q: str) -> Query:
    """Parse a search query (module docstring: items, ``"phrases"``, ``-exclusions``).

    Raises:
        QueryError: an unbalanced or misplaced quote, no positive item with a token, or more than
            :data:`MAX_QUERY_TOKENS` tokens.
    """
    clauses: list[Clause] = []
    position = 0
    for found in _ITEM.finditer(q):
        if q[position:found.start()].strip():
            break
        position = found.end()
        words = tokens(found.group(2) if found.group(2) is not None else found.group(3))
        if words:
            clauses.append(Clause(tuple(words), exclude=found.group(1) == "-"))
    if q[position:].strip():
        raise QueryError("a quote is unbalanced or not at the start or end of an item")
    if sum(len(c.tokens) for c in clauses) > MAX_QUERY_TOKENS:
        raise QueryError(f"more than {MAX_QUERY_TOKENS} words")
    if not any(not c.exclude for c in clauses):
        raise QueryError("nothing to search for: give at least one word that is not excluded")
    return Query(tuple(sorted(clauses, key=lambda c: c.exclude)))


def highlight(text: str, query: Query, width: int = 200) -> list[tuple[str, bool]]:
    """A snippet of ``text`` (the original, not normalised) of about ``width`` characters around its
    first match of ``query``'s positive items, as ``(piece, matched)`` pairs in order; ``…`` marks a
    cut. Matches are found as the search finds them, on each grapheme cluster normalised alone and
    mapped back to the cluster (so a highlight spans whole clusters). Without a match found (a
    text whose normalisation joins clusters), the text's start unhighlighted.
    """
    spans = _matched_spans(text, query)
    if not spans:
        return [(text[:width] + ("…" if len(text) > width else ""), False)] if text else []
    start = max(0, spans[0][0] - width // 4)
    end = min(len(text), max(start + width, spans[0][1]))
    start = max(0, min(start, end - width))
    pieces: list[tuple[str, bool]] = []
    cursor = start
    for s, e in spans:
        if s >= end:
            break
        s, e = max(s, cursor), min(e, end)
        if s > cursor:
            pieces.append((text[cursor:s], False))
        if e > s:
            pieces.append((text[s:e], True))
        cursor = max(cursor, e)
    if cursor < end:
        pieces.append((text[cursor:end], False))
    if start > 0:
        pieces.insert(0, ("…", False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def _matched_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Merged ``(start, end)`` spans of ``text`` (original offsets) where positive items match."""
    normal: list[str] = []
    origin: list[tuple[int, int]] = []  # per normalised character: its cluster's span in ``text``
    for cluster in _CLUSTER.finditer(text):
        piece = normalise(cluster.group())
        normal.append(piece)
        origin += [cluster.span()] * len(piece)
    joined = "".join(normal)
    padded, where = [" "], [-1]  # the padded document and, per character, its index in ``joined``
    for token in _TOKEN.finditer(joined):
        padded.append(token.group() + " ")
        where += [*range(token.start(), token.end()), -1]
    document_text = "".join(padded)
    spans: list[tuple[int, int]] = []
    for clause in query.positive:
        needle = clause.needle
        at = document_text.find(needle)
        while at >= 0:
            inside = [where[i] for i in range(at, at + len(needle)) if where[i] >= 0]
            spans.append((origin[inside[0]][0], origin[inside[-1]][1]))
            at = document_text.find(needle, at + 1)
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged
