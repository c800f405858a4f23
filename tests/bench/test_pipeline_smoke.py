"""The benchmark (bench/pipeline.py) cannot rot: every scenario runs on a small workload against the
test harness's broker and database server, and the rows and acknowledgements are counted (never timed)."""

from __future__ import annotations

from bench.pipeline import SCENARIOS, Options, render, run_benchmark
from rich.console import Console

# 924 messages of the smaller export, then 76 of the other: both chats and both export generations.
MESSAGES = 1000


async def test_every_scenario_writes_exactly_the_workload(settings, shared_data, tmp_path):
    report = await run_benchmark(settings, Options(messages=MESSAGES, data_dir=shared_data, workdir=tmp_path,
                                                   stall_timeout=60))

    assert list(report["scenarios"]) == list(SCENARIOS)
    workload = report["workload"]
    assert workload["messages"] == MESSAGES and workload["channels"] == 2 and workload["photo_refs"] > 0
    for name, result in report["scenarios"].items():
        assert result["problems"] == [], name  # every count checked against the workload
        assert result["messages"] == MESSAGES and result["msg_per_s"] > 0, name
        if name != "collector":
            assert result["counts"]["messages"] == MESSAGES, name
    e2e = report["scenarios"]["e2e"]
    assert e2e["counts"]["media_status"] == workload["media_status"]
    assert e2e["media_blobs"] == e2e["counts"]["distinct_sha256"] <= workload["distinct_photo_files"]
    assert report["scenarios"]["writer"]["workers"]["writer"]["committed"] == MESSAGES
    assert report["scenarios"]["collector"]["workers"]["collector"]["acked"] == MESSAGES
    assert set(report["ratios"]) >= {"writer_vs_ceiling", "writer_vs_baseline", "collector_msg_per_s"}
    with (tmp_path / "table.txt").open("w") as out:
        render(report, Console(file=out, width=160))
    assert "tgpipe writer" in (tmp_path / "table.txt").read_text()
