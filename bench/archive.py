#!/usr/bin/env python
"""Benchmark of the main job and of backfill: ``tgpipe archive`` of a generated export, then
``tgpipe replay`` of its messages topic into empty databases (issue 14).

    ./dev python bench/archive.py --messages 100000 [--json out.json] [--baseline-messages 50000]

Starts the embedded default (PostgreSQL from its wheel, Tansu) unless ``TGPIPE_DATABASE_URL`` /
``TGPIPE_KAFKA_BOOTSTRAP_SERVERS`` are set (as bench/pipeline.py does). Then, on those servers:

1. **export**: :func:`bench.generate_export.generate` writes a Telegram Desktop export folder of N
   messages (full-account layout of ``--chats`` chats, 12 by default: records are keyed by chat, so
   the chats are what the topic's partitions and the replay's writers share out);
2. **baseline**: bench/pipeline.py's ``baseline`` scenario (per-row inserts, autocommit) on
   ``--baseline-messages`` events and on a quarter of that: its rate, and its cost per message
   at both sizes (``flat`` when they differ by at most :data:`FLAT_TOLERANCE`);
3. **archive**: ``tgpipe archive --export EXPORT --timezone UTC`` as a child process, into a fresh migrated
   database and fresh topics of ``--partitions`` partitions. Its rate is N over the command's wall
   time (interpreter start to exit: reading, publishing, writing, media and its closing verify).
   Every process of its tree is sampled every 0.25 s (:mod:`bench.proctree`) and each one's
   highest ``VmHWM`` kept; the servers' memory and the machine's other load are sampled as in
   bench/pipeline.py;
4. **verify**: ``tgpipe verify --json --export EXPORT`` on the archive's database, and its table
   digest (:func:`tgpipe.ops.verify.table_digest`, timed: ``digest_s``);
5. **replay**: for each ``--writers`` count, ``tgpipe replay --writers W --json`` of the archive's
   messages topic in a new consumer group into a fresh empty database, ``--until-offset`` the
   archive writer group's committed offsets (exactly the topic's records; end offsets are wrong on
   Tansu). Its rate is N over the replay's own ``elapsed_s`` (which includes migrating the target,
   starting the services, the media service catching up and the digest of the replayed database:
   ``msg_per_s_without_digest`` takes the archive's ``digest_s`` off); ``digest_equal``: its
   digest equals the archive's.

The whole run writes one JSON report (``--json``). Not a test: the suite runs a small smoke test
(tests/bench/test_archive_smoke.py), which asserts no time. The machine may be shared: see each
step's ``servers.foreign_cores`` (cores other processes used meanwhile).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from bench import pipeline
from bench.generate_export import DEFAULT_DATA, generate
from bench.proctree import TreePeaks, kill_tree
from tgpipe.kafka.admin import offsets_consumer
from tgpipe.kafka.broker import delete_topics
from tgpipe.ops.verify import table_digest
from tgpipe.settings import Settings

#: Baseline costs per message at the two sizes differing by at most this share count as flat.
FLAT_TOLERANCE = 0.2
#: Issue 14's targets for the main job (at 1M messages).
TARGETS = {"archive_msg_per_s": 5000, "archive_vs_baseline": 3.0, "peak_rss_mb_per_process": 300}
#: Settings passed to the commands (as ``TGPIPE_*`` variables) besides those set by the parent's environment.
_CHILD_SETTINGS = ("database_url", "kafka_bootstrap_servers", "kafka_enable_idempotence", "kafka_acks",
                   "kafka_session_timeout_ms", "kafka_heartbeat_interval_ms", "home", "topic_messages",
                   "topic_committed", "topic_dead_letter", "topic_fetch_requests", "topic_partitions",
                   "writer_group", "media_group", "telegram_fetch_group", "media_export_roots")
console = pipeline.console


class BenchError(Exception):
    """A step of the benchmark failed (a command exited non-zero, or printed no JSON)."""


@dataclass
class Options:
    """What to run (see ``--help``)."""

    messages: int
    baseline_messages: int | None = None  # default: min(messages, 50,000)
    data_dir: Path = DEFAULT_DATA
    layout: str = "account"
    chats: int = 12
    seed: int = 1
    partitions: int = 6
    writers: tuple[int, ...] = (1, 2)
    workdir: Path | None = None
    timeout_s: float = 4 * 3600.0
    keep: bool = False


def tgpipe_command() -> str:
    """The ``tgpipe`` console script of this interpreter's environment."""
    found = shutil.which("tgpipe", path=str(Path(sys.executable).parent)) or shutil.which("tgpipe")
    if found is None:
        raise BenchError("no tgpipe command beside this interpreter: run through ./dev")
    return found


def child_env(settings: Settings) -> dict[str, str]:
    """This process's environment with ``settings``' :data:`_CHILD_SETTINGS` as ``TGPIPE_*`` variables."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json", include=set(_CHILD_SETTINGS)).items():
        if isinstance(value, list | bool):
            env[f"TGPIPE_{name.upper()}"] = json.dumps(value)
        elif value is not None:
            env[f"TGPIPE_{name.upper()}"] = str(value)
    return env


async def run_command(args: list[str], settings: Settings, log: Path, timeout_s: float,
                      servers: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """Run ``tgpipe ARGS`` with ``settings`` (stderr to ``log``) while sampling its process tree and
    the servers; return ``({"exit_code", "wall_s", "tree", "servers"}, its stdout)``."""
    command = [tgpipe_command(), *args]
    console.log(" ".join(command[1:]))
    with pipeline.Sampler(servers) as sampler, log.open("wb") as err:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(*command, env=child_env(settings), cwd=pipeline.ROOT,
                                                       stdout=asyncio.subprocess.PIPE, stderr=err)
        peaks = TreePeaks(process.pid)
        sampling = asyncio.create_task(peaks.run())
        try:
            stdout, _ = await asyncio.wait_for(process.communicate(), timeout_s)
        finally:
            sampling.cancel()
            if process.returncode is None:  # timed out or interrupted: its child processes too
                kill_tree(process.pid)
                await process.wait()
        wall = time.monotonic() - started
    return {"command": " ".join(["tgpipe", *args]), "exit_code": process.returncode, "wall_s": round(wall, 3),
            "tree": peaks.as_dict(), "servers": sampler.as_dict()}, stdout


def _failed(step: str, result: dict[str, Any], log: Path) -> BenchError:
    tail = log.read_text(errors="replace")[-3000:]
    return BenchError(f"{step}: `{result['command']}` exited with {result['exit_code']}; {log} ends with:\n{tail}")


async def writer_offsets(settings: Settings) -> dict[int, int]:
    """``{partition: committed offset}`` of ``settings.writer_group`` on the messages topic (one
    past its last record: after a finished archive, the topic's end)."""
    async with offsets_consumer(settings, client_id="bench-archive", group_id=settings.writer_group) as consumer:
        partitions = consumer.partitions_for_topic(settings.topic_messages) or set()
        tps = [TopicPartition(settings.topic_messages, p) for p in sorted(partitions)]
        consumer.assign(tps)
        return {tp.partition: await consumer.committed(tp) or 0 for tp in tps}


async def digest_of(url: str) -> tuple[dict[str, Any], float]:
    """(table digest of the database at ``url``, seconds it took)."""
    conn = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        digest = await table_digest(conn)
        return digest, time.monotonic() - started
    finally:
        await conn.close()


def _json_of(step: str, stdout: bytes) -> dict[str, Any]:
    try:
        return json.loads(stdout)
    except ValueError:
        raise BenchError(f"{step} printed no JSON: {stdout[-500:]!r}") from None


async def baseline(settings: Settings, options: Options, run_dir: Path) -> dict[str, Any]:
    """bench/pipeline.py's ``baseline`` scenario at ``baseline_messages`` and at a quarter of it."""
    large = options.baseline_messages or min(options.messages, 50_000)
    sizes = sorted({max(1, large // 4), large})
    runs = {}
    for n in sizes:
        report = await pipeline.run_benchmark(settings, pipeline.Options(
            messages=n, scenarios=("baseline",), data_dir=options.data_dir, seed=options.seed,
            partitions=options.partitions, workdir=run_dir, retries=0))
        result = report["scenarios"]["baseline"]
        runs[n] = {"msg_per_s": result["msg_per_s"], "us_per_msg": round(1e6 / result["msg_per_s"], 1),
                   "cpu_us_per_msg": result["cpu_us_per_msg"], "problems": result["problems"],
                   "foreign_cores": result["servers"].get("foreign_cores")}
    costs = [r["us_per_msg"] for r in runs.values()]
    change = costs[-1] / costs[0] - 1
    return {"messages": large, "msg_per_s": runs[large]["msg_per_s"], "runs": runs,
            "cost_change": round(change, 3), "cost_flat": abs(change) <= FLAT_TOLERANCE,
            "flat_tolerance": FLAT_TOLERANCE}


async def replay(settings: Settings, databases: pipeline.Databases, writers: int, until: dict[int, int],
                 archived: dict[str, Any], digest_s: float, options: Options, run_dir: Path,
                 servers: dict[str, Any]) -> dict[str, Any]:
    """``tgpipe replay --writers W`` of the archive's topic into a fresh database (module docstring, 5)."""
    name, url = await databases.fresh(f"replay{writers}")
    try:
        log = run_dir / f"replay-{writers}.log"
        group = f"{settings.writer_group}-replay{writers}"
        replay_home = settings.model_copy(update={"home": run_dir / f"home-replay{writers}",
                                                  "media_export_roots": (run_dir / "export",)})
        ranges = ",".join(f"{p}:{offset}" for p, offset in sorted(until.items()) if offset)
        result, stdout = await run_command(
            ["replay", "--group", group, "--database-url", url, "--writers", str(writers), "--until-offset", ranges,
             "--json"], replay_home, log, options.timeout_s, servers)
        if result["exit_code"] != 0:
            raise _failed(f"replay with {writers} writer(s)", result, log)
        summary = _json_of("replay", stdout)
    finally:
        if not options.keep:
            await databases.drop(name)
    elapsed = summary["elapsed_s"]
    return {**result, "writers": writers, "messages": summary["messages"], "records": summary["records"],
            "media": summary["media"], "batches_per_writer": summary["batches_per_writer"],
            "elapsed_s": round(elapsed, 3), "msg_per_s": round(summary["messages"] / elapsed, 1),
            "msg_per_s_without_digest": round(summary["messages"] / max(elapsed - digest_s, 1e-9), 1),
            "digest_all": summary["digest"]["all"]["sha256"],
            "digest_equal": summary["digest"] == archived,
            "digest_tables_differing": sorted(t for t in archived if summary["digest"].get(t) != archived[t])}


async def run_benchmark(settings: Settings, options: Options) -> dict[str, Any]:
    """Run the steps of the module docstring on the servers of ``settings`` (both URLs set); return the report.

    Raises:
        BenchError: a command failed or printed no JSON.
    """
    if not settings.database_url or not settings.kafka_bootstrap_servers:
        raise BenchError("run_benchmark needs settings with database_url and kafka_bootstrap_servers")
    tag = uuid.uuid4().hex[:8]
    run_dir = Path(tempfile.mkdtemp(prefix=f"tgpipe-bench-archive-{tag}-", dir=options.workdir))
    prefix = f"bench.{tag}.archive"
    topics = settings.model_copy(update={
        "topic_messages": f"{prefix}.messages", "topic_committed": f"{prefix}.committed",
        "topic_dead_letter": f"{prefix}.dead-letter", "topic_fetch_requests": f"{prefix}.fetch-requests",
        "topic_partitions": options.partitions, "writer_group": f"bench-{tag}-writer",
        "media_group": f"bench-{tag}-media", "telegram_fetch_group": f"bench-{tag}-fetch",
        "home": run_dir / "home-archive"})
    try:
        started = time.monotonic()
        export = run_dir / "export"
        await asyncio.to_thread(generate, export, options.messages, layout=options.layout, chats=options.chats,
                                seed=options.seed, data_dir=options.data_dir)
        generated = {"messages": options.messages, "layout": options.layout, "chats": options.chats,
                     "seed": options.seed, "result_json_bytes": (export / "result.json").stat().st_size,
                     "seconds": round(time.monotonic() - started, 2)}
        console.log(f"generated an export of {options.messages:,} messages in {generated['seconds']} s")
        base = await baseline(settings, options, run_dir)
        console.log(f"baseline: {base['msg_per_s']:,.0f} msg/s; cost per message flat: {base['cost_flat']}")
        pg = await pipeline.server_settings(settings.database_url)
        servers = await pipeline.find_servers(settings)
        async with pipeline.Databases(settings.database_url, tag) as databases:
            name, url = await databases.fresh("archive")
            archive_settings = topics.model_copy(update={"database_url": url})
            log = run_dir / "archive.log"
            archived, _ = await run_command(["archive", "--export", str(export), "--timezone", "UTC"], archive_settings, log,
                                            options.timeout_s, servers)
            if archived["exit_code"] != 0:
                raise _failed("archive", archived, log)
            archived["msg_per_s"] = round(options.messages / archived["wall_s"], 1)
            archived["cpu_us_per_msg"] = round(archived["tree"]["cpu_s"] / options.messages * 1e6)
            console.log(f"archive: {archived['msg_per_s']:,.0f} msg/s, peak RSS "
                        f"{archived['tree']['max_peak_rss_mb']} MB (largest process)")
            log = run_dir / "verify.log"
            verified, stdout = await run_command(["verify", "--json", "--export", str(export), "--timezone", "UTC"],
                                                 archive_settings, log, options.timeout_s, servers)
            verified["report"] = _json_of("verify", stdout)
            verified["clean"] = verified["exit_code"] == 0 and verified["report"]["ok"]
            digest, digest_s = await digest_of(url)
            until = await writer_offsets(archive_settings)
            replays = [await replay(archive_settings, databases, w, until, digest, digest_s, options, run_dir,
                                    servers) for w in options.writers]
            for r in replays:
                console.log(f"replay, {r['writers']} writer(s): {r['msg_per_s']:,.0f} msg/s, "
                            f"digest equal: {r['digest_equal']}")
        await delete_topics(topics)
        return {
            "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "code": pipeline.code_version(),
            "machine": pipeline.machine_info(archive_settings, pg, {k: v is not None for k, v in servers.items()}),
            "options": {"messages": options.messages, "baseline_messages": base["messages"],
                        "layout": options.layout, "chats": options.chats, "seed": options.seed,
                        "partitions": options.partitions, "writers": list(options.writers)},
            "export": generated, "baseline": base,
            "archive": {**archived, "messages": options.messages, "vs_baseline": round(
                archived["msg_per_s"] / base["msg_per_s"], 2)},
            "verify": verified, "digest": {"all": digest["all"]["sha256"], "seconds": round(digest_s, 3),
                                           "rows": {t: d["rows"] for t, d in digest.items() if "rows" in d}},
            "topic": {"partitions": len(until), "records": sum(until.values()), "end_offsets": until},
            "replay": {str(r["writers"]): r for r in replays},
            "targets": TARGETS, "verdicts": verdicts(archived, base, verified, replays),
        }
    finally:
        if not options.keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def verdicts(archived: dict[str, Any], base: dict[str, Any], verified: dict[str, Any],
             replays: list[dict[str, Any]]) -> dict[str, bool]:
    """Each of :data:`TARGETS` met or not, the archive verified clean, every replay's digest equal."""
    return {"archive_msg_per_s": archived["msg_per_s"] >= TARGETS["archive_msg_per_s"],
            "archive_vs_baseline": archived["msg_per_s"] / base["msg_per_s"] >= TARGETS["archive_vs_baseline"],
            "peak_rss_mb_per_process": archived["tree"]["max_peak_rss_mb"] < TARGETS["peak_rss_mb_per_process"],
            "verify_clean": verified["clean"], "replay_digests_equal": all(r["digest_equal"] for r in replays)}


def parse_args(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", "-n", type=int, required=True, help="messages of the generated export (N)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--baseline-messages", type=int, help="events of the baseline run (default min(N, 50000))")
    parser.add_argument("--layout", choices=("single", "account"), default="account")
    parser.add_argument("--chats", type=int, default=12,
                        help="chats of an account export (default 12; records are keyed by chat, so the chats "
                             "are what the partitions, and the replay's writers, share out)")
    parser.add_argument("--partitions", type=int, default=6, help="partitions of the topics (default 6)")
    parser.add_argument("--writers", default="1,2", help="writer replicas of each replay (default 1,2)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of Telegram exports")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, help="where the export goes (default: the temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the run directory")
    args = parser.parse_args(argv)
    writers = tuple(int(w) for w in args.writers.split(",") if w.strip())
    return Options(messages=args.messages, baseline_messages=args.baseline_messages, data_dir=args.data,
                   layout=args.layout, chats=1 if args.layout == "single" else args.chats, seed=args.seed,
                   partitions=args.partitions, writers=writers, workdir=args.workdir, keep=args.keep), args.json


def main(argv: list[str] | None = None) -> int:
    options, json_path = parse_args(argv)
    report = pipeline.on_embedded_default(run_benchmark, options, json_path)
    summary = {"archive_msg_per_s": report["archive"]["msg_per_s"], "vs_baseline": report["archive"]["vs_baseline"],
               "peak_rss_mb": {f"{p['pid']} {p['command'][:60]}": p["peak_rss_mb"]
                               for p in report["archive"]["tree"]["processes"]},
               "baseline_msg_per_s": report["baseline"]["msg_per_s"],
               "baseline_cost_flat": report["baseline"]["cost_flat"],
               "replay": {w: {k: r[k] for k in ("msg_per_s", "msg_per_s_without_digest", "digest_equal")}
                          for w, r in report["replay"].items()},
               "verdicts": report["verdicts"]}
    print(json.dumps(summary, indent=2))
    ok = report["verdicts"]["verify_clean"] and report["verdicts"]["replay_digests_equal"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
