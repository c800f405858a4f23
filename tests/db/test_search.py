"""The search rules of tgpipe.db.search: normalisation, tokens, terms, queries and snippets, on real
words of each script (the expected values are written by hand from the rules in the docstring)."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tgpipe.db.search import MAX_TERM, QueryError, document, highlight, normalise, parse_query, terms, tokens


@pytest.mark.parametrize(("text", "expected"), [
    ("Привет, МИР! Ёлка", "привет, мир! ёлка"),                  # Russian: case
    ("Hello WORLD", "hello world"),                               # English: case (ASCII fast path)
    ("Straße", "strasse"),                                        # casefold, not lower
    ("ＡＢＣ１２", "abc12"),                                      # NFKC: full-width forms
    ("می\u200cخواهم", "میخواهم"),                                 # Persian: ZWNJ removed
    ("كتاب علي", "کتاب علی"),                                     # Arabic kaf/yeh -> Persian
    ("مستشفى", "مستشفی"),                                         # alef maksura -> Persian yeh
    ("مدرسة", "مدرسه"), ("خانۀ", "خانه"),                          # teh marbuta, heh with yeh above -> heh
    ("أحمد إسلام آب ٱلله", "احمد اسلام اب الله"),                  # alef variants -> alef
    ("مُحَمَّدٌ", "محمد"), ("كـــتاب", "کتاب"),                       # harakat, tatweel removed
    ("۱۴۰۲ ٢٠٢٣", "1402 2023"),                                   # Persian, Arabic-Indic digits
    ("ﻻ", "لا"),                                                  # presentation form -> letters
    ("東京タワー", "東京タワー"), ("ｶﾀｶﾅ", "カタカナ"),              # Japanese: half-width kana -> full
])
def test_normalise(text, expected):
    assert normalise(text) == expected


@given(st.text())
@example("e\u200c\u0301")        # a removal brings a letter beside a combining mark
@example("\u064a\u0654")         # yeh + hamza above (composes to U+0626 under NFC)
@example("\ufe70")               # Arabic fathatan isolated form: NFKC gives space + mark
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


@pytest.mark.parametrize(("text", "expected"), [
    ("Привет, мир!", ["привет", "мир"]),
    ("don't e-mail foo_bar", ["don", "t", "e", "mail", "foo", "bar"]),
    ("می‌دونم که 3 تا", ["میدونم", "که", "3", "تا"]),
    ("我用iPhone手机，很好。", ["我用", "iphone", "手机", "很好"]),
    ("とうきょう東京タワーへ行く", ["とうきょう東京タワーへ行く"]),   # kana and kanji: one CJK run
    ("👍\ufe0f ok", ["ok"]),                                     # an emoji's variation selector is no token
    ("हिन्दी", ["हिन्दी"]),                                           # combining vowel signs stay in the word
])
def test_tokens(text, expected):
    assert tokens(text) == expected


def test_terms_are_words_and_cjk_bigrams():
    assert terms("中文书籍 书 iPhone 中文") == ["中文", "文书", "书籍", "书", "iphone"]
    assert terms("コーヒー") == ["コー", "ーヒ", "ヒー"]
    assert terms("a" * (MAX_TERM + 5)) == ["a" * MAX_TERM]
    found = document("گفته بودي، Hello!")
    assert (found.search_text, found.terms) == ("گفته بودی hello", "گفته بودی hello")
    assert document("").terms == "" and document("!!").search_text == ""


def test_queries_words_phrases_exclusions():
    query = parse_query('کتاب "مدرسة الأولى" -فیلم -"e-mail" 中文书')
    assert [(c.tokens, c.exclude) for c in query.clauses] == [
        (("کتاب",), False), (("مدرسه", "الاولی"), False), (("中文书",), False),
        (("فیلم",), True), (("e", "mail"), True)]
    assert query.tsquery() == "'کتاب' & 'مدرسه' & 'الاولی' & '中文' & '文书' & !'فیلم'"
    assert query.like_patterns() == (["% مدرسه الاولی %", "%中文书%"], ["% e mail %"])


@pytest.mark.parametrize(("q", "search_text", "matches"), [
    ("کتاب", "این کتاب خوب", True), ("کتاب", "کتابها", False),         # a whole word
    ("中文", "学习中文书", True), ("中文书", "中文 书", False),           # a CJK substring, within one run
    ("书", "书", True), ("书", "中文书", False),                        # one CJK character: a run of its own
    ('"good book"', "a good book", True), ('"good book"', "good a book", False),
    ("book -bad", "good book", True), ("book -bad", "bad book", False),
    ("book -\"very bad\"", "very good book", True), ("book -\"very bad\"", "very bad book", False),
    ("iphone手机", "iphone 手机壳", True),                              # a word then a CJK run: adjacent
])
def test_query_matching_rule(q, search_text, matches):
    assert parse_query(q).matches(search_text) is matches


@pytest.mark.parametrize("q", ["", "   ", "-only", '-"only this"', "?? !!", 'foo"bar', '"unbalanced', "a " * 33])
def test_a_query_without_positive_item_or_with_bad_quotes_is_refused(q):
    with pytest.raises(QueryError):
        parse_query(q)


CJK = st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF) | st.sampled_from("あいうアイウー"),
              min_size=2, max_size=30)


@given(CJK, st.text(max_size=20), st.text(max_size=20), st.data())
def test_a_substring_of_a_cjk_run_always_matches_its_message(run, before, after, data):
    """Any 2+ character substring of a CJK run is found, whatever the text around it."""
    start = data.draw(st.integers(0, len(run) - 2))
    end = data.draw(st.integers(start + 2, len(run)))
    message = f"{before} {run} {after}"
    query = parse_query(run[start:end])
    stored = document(message)
    assert query.matches(stored.search_text)
    assert set(query.positive[0].terms) <= set(stored.terms.split(" "))


@given(st.text(alphabet=st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1, max_size=12),
       st.text(max_size=30), st.text(max_size=30))
def test_a_word_is_found_in_any_message_that_holds_it_as_a_token(word, before, after):
    message = f"{before} {word} {after}"
    found = tokens(word)
    if len(found) != 1:  # the word is CJK and Latin mixed, or all marks/digits of another kind
        return
    assert parse_query(word).matches(document(message).search_text)


def test_highlight_marks_the_original_text():
    text = "Hello, World! The WORLD is big. هذا كتابٌ جميل"
    assert highlight(text, parse_query("world کتاب")) == [
        ("Hello, ", False), ("World", True), ("! The ", False), ("WORLD", True), (" is big. هذا ", False),
        ("كتابٌ", True), (" جميل", False)]
    assert highlight("我们用iPhone手机壳", parse_query("手机")) == [("我们用iPhone", False), ("手机", True), ("壳", False)]
    assert highlight("می\u200cخواهم بروم", parse_query("میخواهم")) == [("می\u200cخواهم", True), (" بروم", False)]
    assert highlight("a good, Book", parse_query('"good book"')) == [("a ", False), ("good, Book", True)]


def test_highlight_cuts_a_window_around_the_first_match():
    text = "x " * 300 + "needle" + " y" * 300
    pieces = highlight(text, parse_query("needle"), width=40)
    assert pieces[0] == ("…", False) and pieces[-1] == ("…", False)
    assert ("needle", True) in pieces
    assert sum(len(p) for p, _ in pieces[1:-1]) == 40
    assert highlight("no match here", parse_query("absent")) == [("no match here", False)]
