#!/usr/bin/env python
"""Per-event CPU cost of each step of the write path, without broker or database (microseconds).

    ./dev python bench/components.py [--messages 20000]

Runs on the benchmark's own workload (:mod:`bench.workload`) and calls the product's functions
directly, so the numbers say how much each step costs per event in this process, and what a
cheaper equivalent would cost. The write path's steps, in the order the writer runs them:

* ``schemas.decode_event`` (pydantic ``validate_json``) versus plain ``json.loads`` (the raw
  ceiling's decode), and the share of the ``raw`` export entry in it;
* ``services.writer.persist._stage_rows`` (the rows ``COPY``-ed to the writer's stage, with
  ``pydantic_core.to_json`` of ``raw``, ``entities``, ``reactions``), and ``json.dumps`` (the
  writer's serializer before issue 6) versus ``pydantic_core.to_json`` for those three values;
* ``services.writer.app.committed_events`` and encoding them (one ``message.committed`` each);
* the collector: building a ``MessageUpserted`` and encoding it.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import pydantic_core

from bench.workload import generate, load_sources
from schemas import MessageUpserted, decode_event, encode_event
from services.writer.app import committed_events
from services.writer.persist import _stage_rows, version_sha256
from tgpipe.db import search

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


BATCH = 500  # as the writer's batches: results are dropped after each, as they are in the writer


def per_event_us(fn: Callable[[list[Any]], Any], items: list[Any], repeat: int = 3) -> float:
    """Best of ``repeat`` passes of ``fn`` over ``items`` in batches of :data:`BATCH`, in µs of this
    process's CPU time per item (CPU, not wall time: the machine is shared).

    In batches because keeping every result alive would let the garbage collector's passes over
    a growing heap dominate (a cost the writer, which drops each batch, does not have).
    """
    best = float("inf")
    for _ in range(repeat):
        elapsed = 0.0
        for start in range(0, len(items), BATCH):
            chunk = items[start:start + BATCH]
            started = time.process_time()
            fn(chunk)
            elapsed += time.process_time() - started
        best = min(best, elapsed)
    return best / len(items) * 1e6


def measure(messages: int, data_dir: Path, seed: int = 1) -> dict[str, float]:
    sources = load_sources(data_dir)
    events = [event for event, _chat in generate(sources, messages, seed)]
    values = [encode_event(e) for e in events]
    # the same events with an empty ``raw``: how much of decoding is the export entry itself
    no_raw = [encode_event(e.model_copy(update={"payload": e.payload.model_copy(update={
        "message": e.payload.message.model_copy(update={"raw": {}})})})) for e in events]
    payloads = [e.payload for e in events]
    decoded = [decode_event(v) for v in values]
    committed = committed_events(decoded)
    hashes = {id(e): version_sha256(e.payload) for e in decoded}
    n = len(values)

    def dumps(value: object) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def rust_dumps(value: object) -> str | None:
        return None if value is None else pydantic_core.to_json(value).decode()

    results = {
        "event bytes (mean)": sum(map(len, values)) / n,
        "json.loads(value)  [the raw ceiling's decode]":
            per_event_us(lambda vs: [json.loads(v) for v in vs], values),
        "decode_event(value)  [pydantic validate_json of the envelope]":
            per_event_us(lambda vs: [decode_event(v) for v in vs], values),
        "MessageUpserted.model_validate_json(value)  [no union dispatch]":
            per_event_us(lambda vs: [MessageUpserted.model_validate_json(v) for v in vs], values),
        "decode_event(value with raw={})  [the rest of the event]":
            per_event_us(lambda vs: [decode_event(v) for v in vs], no_raw),
        "json.dumps(raw)  [once]":
            per_event_us(lambda es: [dumps(e.payload.message.raw) for e in es], decoded),
        "_stage_rows(events)  [rows COPY-ed to the writer's stage]":
            per_event_us(lambda es: _stage_rows(es, {id(e) for e in es}, hashes), decoded),
        "version_sha256(payload)  [the order key's hash, once per event]":
            per_event_us(lambda es: [version_sha256(e.payload) for e in es], decoded),
        "search.document(text)  [search columns, inside _stage_rows]":
            per_event_us(lambda es: [search.document(e.payload.message.text) for e in es], decoded),
        "json.dumps of raw+entities+reactions  [the writer's serializer before issue 6]":
            per_event_us(lambda es: [(dumps(e.payload.message.raw), dumps(e.payload.message.entities),
                                      dumps(e.payload.message.reactions)) for e in es], decoded),
        "pydantic_core.to_json of raw+entities+reactions  [inside _stage_rows]":
            per_event_us(lambda es: [(rust_dumps(e.payload.message.raw),
                                      rust_dumps(e.payload.message.entities),
                                      rust_dumps(e.payload.message.reactions)) for e in es], decoded),
        "committed_events(events)  [one MessageCommitted each]": per_event_us(committed_events, decoded),
        "encode_event(committed)": per_event_us(lambda cs: [encode_event(c) for c in cs], committed),
        "collector: MessageUpserted(payload) + encode_event":
            per_event_us(lambda ps: [encode_event(MessageUpserted(source="bench", seq=i, payload=p))
                                     for i, p in enumerate(ps)], payloads),
        "collector: encode_event only": per_event_us(lambda es: [encode_event(e) for e in es], events),
    }
    return {k: round(v, 2) for k, v in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", "-n", type=int, default=20000)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.messages, args.data)
    width = max(map(len, results))
    for name, value in results.items():
        print(f"{name:<{width}}  {value:>8.1f}" + ("" if name.startswith("event bytes") else " µs/event"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
