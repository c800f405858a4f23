"""Fault injection into a real service process, loaded by the interpreter at start-up.

The faults tests run ``tgpipe writer`` (or ``media``) as a subprocess with this directory on
``PYTHONPATH``, so Python imports this ``sitecustomize`` before the service starts, and with
``TGPIPE_TEST_FAULT`` set to a JSON object:

``target``  ``"module:Qualified.name"`` of an ``async`` callable to wrap (a module function the
            service looks up at call time, or a method of a class);
``nth``     act on the n-th call that matches (default 1);
``match``   count only calls with a ``str`` argument containing this text (e.g. an SQL prefix);
``action``  ``"kill"`` (SIGKILL this process: no cleanup, no flush, no goodbye), ``"pause"``
            (sleep ``seconds`` inside the call, e.g. to signal the process mid-batch) or ``"raise"``
            (raise the built-in exception named by ``error``, e.g. ``"AttributeError"``, at the n-th
            matching call and every later one: a bug shipped in a deploy);
``when``    ``"before"`` (default) or ``"after"`` the wrapped call returns.

It prints ``fault: <action> at call <n> of <target>`` on stderr first (for ``raise``, at the
first call that raises), so the test can see that
the process reached the point.

With ``TGPIPE_TEST_OPEN_LOG`` set to a file path, every ``open`` the process makes (an audit hook,
as ``tests/bad_input`` records them in the test's own process) is appended to that file, one path a
line: a service in a child process of ``tgpipe archive`` is audited too. Nothing here is imported
by tgpipe itself.
"""

import asyncio
import builtins
import functools
import importlib
import json
import os
import signal
import sys


def _install(spec: dict) -> None:
    module_name, _, qualname = spec["target"].partition(":")
    owner = importlib.import_module(module_name)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    nth, match, when = spec.get("nth", 1), spec.get("match"), spec.get("when", "before")
    calls = 0

    async def act() -> None:
        if spec["action"] != "raise" or calls == nth:
            sys.stderr.write(f"fault: {spec['action']} at call {nth} of {spec['target']}\n")
            sys.stderr.flush()
        if spec["action"] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if spec["action"] == "raise":
            raise getattr(builtins, spec["error"])(f"injected {spec['error']} at call {calls} of {spec['target']}")
        await asyncio.sleep(spec.get("seconds", 1.0))

    @functools.wraps(original)
    async def wrapper(*args, **kwargs):
        nonlocal calls
        hit = False
        if match is None or any(isinstance(a, str) and match in a for a in args):
            calls += 1
            hit = calls == nth or (spec["action"] == "raise" and calls > nth)
        if hit and when == "before":
            await act()
        result = await original(*args, **kwargs)
        if hit and when == "after":
            await act()
        return result

    setattr(owner, name, wrapper)


def _log_opens(path: str) -> None:
    log = open(path, "a", encoding="utf-8", buffering=1)  # opened before the hook: not recorded

    def record(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            log.write(os.fsdecode(args[0]) + "\n")

    sys.addaudithook(record)


if _open_log := os.environ.get("TGPIPE_TEST_OPEN_LOG"):
    _log_opens(_open_log)
if _spec := os.environ.get("TGPIPE_TEST_FAULT"):
    _install(json.loads(_spec))
