"""The committed AsyncAPI document (docs/asyncapi/asyncapi.yaml) is the one the FastStream apps generate."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from tgpipe.ops.asyncapi import REFRESH_COMMAND, SPEC_PATH, load_specification, render, specification
from tgpipe.cli import app


def test_committed_asyncapi_document_is_up_to_date():
    assert SPEC_PATH.exists(), f"{SPEC_PATH} is missing: run `{REFRESH_COMMAND}`"
    assert SPEC_PATH.read_text(encoding="utf-8") == render(specification()), (
        f"{SPEC_PATH.relative_to(SPEC_PATH.parents[2])} is stale (the apps' topics, events or publishers "
        f"changed): run `{REFRESH_COMMAND}` and commit the result")


def test_asyncapi_document_names_every_topic_with_its_event_schema():
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    load_specification(spec)  # what `faststream docs serve docs/asyncapi/asyncapi.yaml` parses
    assert spec["asyncapi"] == "3.0.0"
    by_topic: dict[str, set[tuple[str, str]]] = {}
    for operation in spec["operations"].values():
        channel = spec["channels"][operation["channel"]["$ref"].rsplit("/", 1)[1]]
        for ref in channel["messages"].values():
            payload = spec["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]["payload"]["$ref"]
            by_topic.setdefault(channel["address"], set()).add((operation["action"], payload.rsplit("/", 1)[1]))
    upserted_or_deleted = "collector:publish:Message:Payload"
    assert by_topic == {
        "tgpipe.messages": {("send", upserted_or_deleted), ("receive", upserted_or_deleted)},
        "tgpipe.messages.committed": {("send", "MessageCommitted"), ("receive", "MessageCommitted")},
        "tgpipe.dead-letter": {("send", "DeadLetterRecord")},
        "tgpipe.fetch-requests": {("send", "api-and-telegram-collector:fetch:Message:Payload")},
    }
    either = spec["components"]["schemas"][upserted_or_deleted]
    assert sorted(s["$ref"] for s in either["anyOf"]) == ["#/components/schemas/MessageDeleted",
                                                          "#/components/schemas/MessageUpserted",
                                                          "#/components/schemas/RangeCompleted"]
    marker = spec["components"]["schemas"]["RangeCompleted"]
    assert marker["properties"]["type"]["const"] == "range.completed"
    fetch = spec["components"]["schemas"]["api-and-telegram-collector:fetch:Message:Payload"]
    assert sorted(s["$ref"] for s in fetch["anyOf"]) == ["#/components/schemas/FetchFailed",
                                                         "#/components/schemas/FetchRequested"]


def test_docs_gen_writes_the_document(tmp_path):
    out = tmp_path / "asyncapi.yaml"
    result = CliRunner().invoke(app, ["docs", "gen", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == SPEC_PATH.read_text(encoding="utf-8")
    assert CliRunner().invoke(app, ["docs", "serve", "--help"]).exit_code == 0
