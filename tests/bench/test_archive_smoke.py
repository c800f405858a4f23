"""The archive benchmark (bench/archive.py) cannot rot: a small generated export is archived, verified
and replayed with 1 and 2 writers against the test harness's broker and database server; the report's
fields, the verify result, the records replayed and the digests are checked (never a time)."""

from __future__ import annotations

from bench.archive import Options, run_benchmark

MESSAGES = 600


async def test_the_archive_benchmark_archives_verifies_and_replays_to_the_same_digest(settings, shared_data, tmp_path):
    report = await run_benchmark(settings, Options(messages=MESSAGES, baseline_messages=200, data_dir=shared_data,
                                                   chats=3, workdir=tmp_path))

    archived = report["archive"]
    assert archived["exit_code"] == 0 and archived["messages"] == MESSAGES and archived["msg_per_s"] > 0
    processes = archived["tree"]["processes"]
    assert processes and all(p["peak_rss_mb"] > 0 for p in processes)
    assert any(p["command"].startswith("python tgpipe archive ") and p["cpu_s"] > 0 for p in processes)
    assert archived["tree"]["max_peak_rss_mb"] == max(p["peak_rss_mb"] for p in processes)
    assert report["verify"]["clean"] and report["verify"]["report"]["ok"]
    assert report["digest"]["rows"]["messages"] == MESSAGES

    baseline = report["baseline"]
    assert set(baseline["runs"]) == {50, 200} and all(not r["problems"] for r in baseline["runs"].values())
    assert baseline["msg_per_s"] > 0 and isinstance(baseline["cost_flat"], bool)
    assert archived["vs_baseline"] > 0
    assert report["verdicts"]["verify_clean"] and report["verdicts"]["replay_digests_equal"]

    assert report["topic"]["partitions"] == 6 and report["topic"]["records"] >= MESSAGES
    assert set(report["replay"]) == {"1", "2"}
    for writers, replay in report["replay"].items():
        assert replay["exit_code"] == 0, writers
        assert replay["records"] == report["topic"]["records"] and replay["messages"] == MESSAGES, writers
        assert len(replay["batches_per_writer"]) == int(writers), writers
        assert replay["digest_all"] == report["digest"]["all"] and replay["digest_equal"], writers
        assert replay["tree"]["processes"] and replay["msg_per_s"] > 0, writers
