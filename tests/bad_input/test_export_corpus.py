"""Bad exports through the real pipeline: ``archive(...)`` → broker → writer → PostgreSQL → media.

Whole-file cases must be refused before anything is published. The entry cases all sit in one
full-account export archived once (module fixture): each case is then checked on its own against
the database, the media store and the archive's reported problems; the good messages around
every bad one must all be there; and no file outside the export root may ever be opened (an
audit hook records every ``open`` of the process while the archive runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.bad_input.cases import (
    ENTRY_CASES,
    FILE_CASES,
    EntryCase,
    FileCase,
    Layout,
    chat_id,
    msg,
    secret_sha256,
    write_full_account_export,
)
from tests.support.broker import topic_settings
from tests.support.database import fresh_database
from tests.support.env import settings_env as _env
from tests.support.processes import INJECTOR
from tgpipe.ops.archive import ArchiveSummary, archive
from tgpipe.cli import app
from tgpipe.db import create_pool
from tgpipe.errors import ExportError
from tgpipe.ops.verify import IntegrityReport, verify

# --------------------------------------------------------------------------- files opened

_opened: list[str] | None = None


def _record_open(event: str, args: tuple) -> None:
    if event == "open" and _opened is not None and isinstance(args[0], str | bytes | os.PathLike):
        _opened.append(os.fsdecode(args[0]))


sys.addaudithook(_record_open)  # hooks cannot be removed; it records only while _opened is a list


# --------------------------------------------------------------------------- whole files


@pytest.mark.parametrize("case", FILE_CASES, ids=[c.id for c in FILE_CASES])
async def test_file_case(case: FileCase, settings, db, tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    case.write(export)
    if case.error is None:
        summary = await archive(settings, export)
        assert summary.published == 1 and summary.problems == []
        return
    with pytest.raises(ExportError) as info:
        await archive(settings, export)
    assert re.search(case.error, str(info.value)), str(info.value)[:500]
    async with db.acquire() as conn:  # nothing was written (nor published: archive read the file first)
        assert await conn.fetchval("SELECT count(*) FROM messages") == 0


async def test_a_message_the_database_refuses_is_reported_by_archive_not_waited_for(settings, db, tmp_path):
    """Whatever the reader cannot foresee (here: a constraint the database has) costs one message,
    named in the summary with the database's reason; the archive neither stalls nor loses the rest."""
    async with db.acquire() as conn:
        await conn.execute("ALTER TABLE messages ADD CONSTRAINT house_rule CHECK (text <> 'refused')")
    export = tmp_path / "export"
    export.mkdir()
    (export / "result.json").write_text(json.dumps({"name": "c", "type": "public_channel", "id": 9, "messages": [
        msg(1, text="fine"), msg(2, text="refused"), msg(3, text="fine")]}))
    summary = await archive(settings, export, stall_timeout=30)
    (problem,) = summary.problems
    assert problem.startswith("message 2 in chat 9: dead-lettered, not archived (CheckViolationError: ")
    assert "house_rule" in problem
    async with db.acquire() as conn:
        assert [r[0] for r in await conn.fetch("SELECT message_id FROM messages ORDER BY 1")] == [1, 3]


def test_cli_reports_an_unreadable_export_without_a_traceback(settings, tmp_path):
    (tmp_path / "result.json").write_text('{"name": "x", "messages": [', encoding="utf-8")
    result = CliRunner().invoke(app, ["archive", "--export", str(tmp_path)], env=_env(settings))
    assert result.exit_code == 2
    assert "cannot archive" in result.output and "not valid JSON (truncated or corrupt?)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --------------------------------------------------------------------------- one export, every entry case


@dataclass
class CorpusRun:
    layout: Layout
    summary: ArchiveSummary
    report: IntegrityReport
    messages: dict[tuple[int, int], tuple[str, int, str]]  # (chat, id) -> (text sha256, length, text prefix)
    titles: dict[int, str | None]
    media: dict[tuple[int, int], tuple[str, str | None, str | None]]  # (chat, id) -> (status, sha256, error)
    stored: set[str]  # sha256 of every file in the media store
    opened: list[str]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
async def corpus(postgres_url, template_database, kafka, tmp_path_factory) -> CorpusRun:
    global _opened
    base = tmp_path_factory.mktemp("bad-input")
    layout = Layout.create(base)
    write_full_account_export(layout, ENTRY_CASES)
    async with fresh_database(postgres_url, template_database) as url, topic_settings(url, kafka,
                                                                                      base) as settings:
        settings = settings.model_copy(update={"export_timezone": "UTC"})  # some cases give only local dates
        _opened, children_log = [], base / "opened-by-children.log"
        # The writer and media service run in spawned children (tgpipe.runtime.children): the
        # injector's sitecustomize records their opens in children_log.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TGPIPE_TEST_OPEN_LOG", str(children_log))
            env.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(INJECTOR), os.environ.get("PYTHONPATH")])))
            try:
                summary = await archive(settings, layout.root)
            finally:
                opened, _opened = _opened, None
        opened += children_log.read_text(encoding="utf-8").splitlines()
        pool = await create_pool(url)
        try:
            async with pool.acquire() as conn:
                report = await verify(conn, summary.expected)
                messages = {(r["channel_id"], r["message_id"]):
                            (_sha(r["text"]), len(r["text"]), r["text"][:40])
                            for r in await conn.fetch("SELECT channel_id, message_id, text FROM messages")}
                titles = dict(await conn.fetch("SELECT channel_id, title FROM channels"))
                media = {(r["channel_id"], r["message_id"]): (r["status"], r["sha256"], r["error"])
                         for r in await conn.fetch("SELECT * FROM media")}
        finally:
            await pool.close()
    stored = {p.name for p in settings.media_dir.rglob("*") if p.is_file()}
    return CorpusRun(layout, summary, report, messages, titles, media, stored, opened)


def _problems_about(run: CorpusRun, index: int) -> list[str]:
    """The reported problems naming case ``index``'s chat (by id, or by position when its id is bad)."""
    return [p for p in run.summary.problems
            if re.search(rf"\bchat {chat_id(index)}\b", p) or f"chats.list[{index}]" in p]


@pytest.mark.parametrize("index, case", list(enumerate(ENTRY_CASES)), ids=[c.id for c in ENTRY_CASES])
def test_entry_case(corpus: CorpusRun, index: int, case: EntryCase):
    chat = chat_id(index)
    problems = _problems_about(corpus, index)
    if case.reason is None:
        assert problems == []
    else:
        assert len(problems) == 1, problems
        assert re.search(case.reason, problems[0]), problems[0][:500]
        if case.reported_id is not None:
            assert f"message {case.reported_id!r}" in problems[0]

    ids = {m for (c, m) in corpus.messages if c == chat}
    if case.outcome == "chat_skipped":
        assert ids == set() and chat not in corpus.titles
        return
    if case.outcome in ("skipped", "refused"):
        assert ids == {1, 3}
    else:
        assert ids == ({1, 3} if case.reported_id is None else {1, 2, 3})
    assert corpus.messages[chat, 1][2] == "good before" and corpus.messages[chat, 3][2] == "good after"
    if case.text is not None:
        assert corpus.messages[chat, 2][:2] == (_sha(case.text), len(case.text))
    if case.media is not None:
        status, sha, error = corpus.media[chat, 2]
        assert status == case.media, (status, error)
        if status == "not_image":
            assert sha is None and ("not an image" in error or "is empty" in error), error
    if case.chat.get("name"):
        assert corpus.titles[chat] == case.chat["name"].replace("\x00", "\ufffd")


def test_corpus_is_large_enough():
    assert len(FILE_CASES) + len(ENTRY_CASES) >= 40
    assert len({c.id for c in FILE_CASES + ENTRY_CASES}) == len(FILE_CASES) + len(ENTRY_CASES)


def test_nothing_outside_the_export_root_is_ever_opened(corpus: CorpusRun):
    outside = str(corpus.layout.outside.resolve())
    assert corpus.opened, "the audit hook saw no file opened at all"
    assert any(p.endswith("good.jpg") for p in corpus.opened)  # the hook does see media reads
    assert [p for p in corpus.opened if str(Path(p).resolve()).startswith(outside)] == []
    assert secret_sha256() not in corpus.stored
    assert secret_sha256() not in {sha for _, sha, _ in corpus.media.values()}


def test_non_images_are_not_stored(corpus: CorpusRun):
    not_images = [(status, sha) for status, sha, _ in corpus.media.values() if status == "not_image"]
    assert len(not_images) == 4 and all(sha is None for _, sha in not_images)
    assert corpus.stored == {sha for status, sha, _ in corpus.media.values() if status == "stored"}


def test_verify_flags_only_the_chat_whose_message_was_too_large(corpus: CorpusRun):
    assert not any(corpus.report.checks.values()), corpus.report.checks
    refused = {chat_id(i) for i, c in enumerate(ENTRY_CASES) if c.outcome == "refused"}
    mismatched = {row.chat_id for row in corpus.report.export if row.messages_db != row.messages_export}
    assert mismatched == refused
    assert corpus.summary.published == len(corpus.messages)  # every message published was written
