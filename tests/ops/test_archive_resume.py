"""Resuming ``tgpipe archive`` (issue 14): the archive is SIGKILLed at several points and run again.

Each run is ``tgpipe archive`` as a real subprocess on a generated two-chat export, killed during
publish, wherever it is in the second chat, during media, and between a commit and its offsets,
then run to the end. The collector runs in the ``archive`` process, the writer and the media
service each in a child of it (:mod:`tgpipe.runtime.children`): the first two kills SIGKILL the
``archive`` process (its children must then exit on their own, checked before the tables are
read); the last two SIGKILL the child the fault fires in, at the fault's exact call, and the
``archive`` process must then stop at once with exit code 1 and one line naming the dead child.
After each kill
the test reads what the writer archived for good straight from the tables (a message row: its
media are the media service's work, left on the committed topic for the next run,
:mod:`tgpipe.ops.resume`) and compares it with the checkpoints the run left: never beyond it
(nothing can be lost), never more than one publish chunk behind it (at most one batch per chat
published again). The last run must finish, verify clean, say where it resumed, and leave the same
tables (digest, media rows included) as one uninterrupted run into a fresh database.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.support.broker import topic_settings
from tests.support.database import fresh_database
from tests.support.processes import OFFSET_COMMIT, Fault, ServiceProcess, gone, spawned_children
from tests.support.waiting import eventually
from tgpipe.cli import status_codes
from tgpipe.db import connection
from tgpipe.ops.archive import archive
from tgpipe.ops.verify import table_digest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHUNK = 200  # publish_chunk: the "batch" of the guarantee
PUBLISH = "services.collector.publish:publish_event"
MEDIA_UPSERT = "services.media.app:upsert_media"


Order = dict[int, list[int]]
"""Per chat, the message id of each entry in export order."""


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated account export: 3,000 messages in 2 chats, with photos and placeholders."""
    out = tmp_path_factory.mktemp("resume") / "export"
    subprocess.run([sys.executable, str(ROOT / "bench" / "generate_export.py"), "--messages", "3000",
                    "--layout", "account", "--chats", "2", "--out", str(out)], check=True)
    return out


def export_order(export: Path) -> Order:
    """The export's :data:`Order`, read with ``json``."""
    raw = json.loads((export / "result.json").read_text(encoding="utf-8"))
    return {chat["id"]: [m["id"] for m in chat["messages"]]
            for chat in raw["chats"]["list"] + raw["left_chats"]["list"]}


async def settled_prefix(conn: asyncpg.Connection, order: Order) -> dict[int, int]:
    """Per chat, how many messages at the head of the export the writer stored for good."""
    messages = {(r[0], r[1]) for r in await conn.fetch("SELECT channel_id, message_id FROM messages")}
    prefix = {}
    for chat_id, entries in order.items():
        done = 0
        while done < len(entries) and (chat_id, entries[done]) in messages:
            done += 1
        prefix[chat_id] = done
    return prefix


async def checkpoints(conn: asyncpg.Connection) -> dict[int, int]:
    """``{chat id: payloads done}`` saved for the (one) export archived in this test's database."""
    return {r[0]: r[1] for r in await conn.fetch("SELECT channel_id, payloads_done FROM archive_checkpoints")}


async def test_archive_killed_at_several_points_resumes_to_the_same_tables(
        settings, postgres_url, template_database, kafka, export, tmp_path):
    settings = settings.model_copy(update={"export_timezone": "UTC", "publish_chunk": CHUNK,
                                           "writer_batch_max_records": 50})
    order = export_order(export)
    assert len(order) == 2 and sum(map(len, order.values())) == 3000
    log = tmp_path / "archive.log"

    def run(fault: Fault | None = None) -> ServiceProcess:
        return ServiceProcess(settings, log, "archive", fault, extra_env={"COLUMNS": "400"},
                              args=("--export", str(export)))

    async def check_kill(what: str) -> None:
        async with connection(settings.database_url) as conn:
            saved, settled = await checkpoints(conn), await settled_prefix(conn, order)
        for chat_id in order:
            done = saved.get(chat_id, 0)
            where = f"{what}: chat {chat_id}: {settled[chat_id]} archived, checkpoint {done}"
            assert done <= settled[chat_id], where  # never beyond what is archived for good
            assert settled[chat_id] - done <= CHUNK, where  # at most one chunk behind

    first_chat, second_chat = order  # the first chat's 1,500 messages come first in the export

    async def killed_once_saved(fault: Fault | None, chat_id: int, at_least: int, what: str) -> None:
        """Run (pausing at ``fault``), SIGKILL once ``chat_id``'s checkpoint is ``at_least``."""
        async def saved_enough() -> bool:
            async with connection(settings.database_url) as conn:
                return (await checkpoints(conn)).get(chat_id, 0) >= at_least
        process = await run(fault).start()
        try:
            if fault:
                await process.wait_for_log("fault: pause", timeout=120)
            await eventually(saved_enough, 120, f"chat {chat_id}'s checkpoint at {at_least}")
            children = spawned_children(process.process.pid)
            assert len(children) == 2, children  # the writer and the media service
            process.signal(signal.SIGKILL)
            assert await process.wait(30) == -signal.SIGKILL
        finally:
            await process.stop()
        await eventually(lambda: all(map(gone, children)), 60, f"{what}: the children {children} exited")
        await check_kill(what)

    # 1. During publish: publishing pauses at its 1,500th send (1,400 acknowledged, in chunks of 200);
    #    killed once the first chat's checkpoint passed 1,000.
    await killed_once_saved(Fault(PUBLISH, nth=1500, action="pause", seconds=120), first_chat, 1000,
                            "killed during publish")
    # 2. Wherever the run is once the second chat's checkpoint passed 300 (writer and media busy).
    await killed_once_saved(None, second_chat, 300, "killed while archiving the second chat")

    # 3. During media: killed before the media service's 15th write of the rerun.
    # 4. Between a commit and its offsets: killed before the 8th offset commit of the writer or of
    #    the media service (each counts its own in its process; whichever comes first).
    for what, fault in (("killed during media", Fault(MEDIA_UPSERT, nth=15)),
                        ("killed between commit and offsets", Fault(OFFSET_COMMIT, nth=8))):
        process = await run(fault).start()
        try:
            assert await process.wait(180) == status_codes.FAILED, process.log()[-3000:]
        finally:
            await process.stop()
        assert "fault: kill" in process.log()
        assert re.search(r"the (writer|media) process \(pid \d+\) was killed by SIGKILL", process.log()), \
            process.log()[-3000:]
        await check_kill(what)

    async with connection(settings.database_url) as conn:
        before_last = await settled_prefix(conn, order)
    last = await run().start()
    try:
        assert await last.wait(300) == 0, last.log()[-4000:]  # 0: verify is clean
    finally:
        await last.stop()
    output = last.log().split("fault: kill")[-1]
    resumed = r"resumed: chat (-?\d+) from message #\d+ in export order \((\d+) messages"
    skipped = {int(chat): int(n) for chat, n in re.findall(resumed, output)}
    # A resumed chat's last checkpointed payload is published again (tgpipe.ops.resume).
    assert skipped.get(first_chat, 0) >= 999 and skipped.get(second_chat, 0) >= 299, output[-3000:]
    published = int(re.search(r"(\d+) messages published", output)[1])
    for chat_id, settled in before_last.items():
        assert settled - skipped.get(chat_id, 0) <= CHUNK + 1, (chat_id, settled, skipped)
    assert published == 3000 - sum(skipped.values())  # the generated export refuses nothing

    async with connection(settings.database_url) as conn:
        digest = await table_digest(conn)
        assert await checkpoints(conn) == {}  # forgotten once the run completed

    async with fresh_database(postgres_url, template_database) as url:
        async with topic_settings(url, kafka, tmp_path / "uninterrupted") as fresh:
            fresh = fresh.model_copy(update={"export_timezone": "UTC"})
            summary = await archive(fresh, export)
            assert summary.published == 3000 and summary.resumed == {}
            async with connection(url) as conn:
                assert await table_digest(conn) == digest
