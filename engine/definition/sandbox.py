"""Bounded expression evaluation: a child process with a memory cap, and a deadline per call.

The CEL binding evaluates in Rust while holding the GIL and has no cost limit of its own: a
costly expression stalls every thread of the process that evaluates it, and a thread cannot be
stopped. So an expression that is not cheap (`engine.definition.expressions` decides) is evaluated
here, in a
long-lived child process (one per process that needs it, started on first use):

- its address space is capped (``RLIMIT_AS``, `Limits.memory_mb`): an allocation past the cap
  fails there (a Python ``MemoryError`` or a Rust abort), never in the service;
- the parent waits for the answer while the child has used at most `Limits.timeout_s` seconds
  of CPU (on a pipe: the GIL is released, other threads go on; `WALL_FACTOR` times that in
  wall-clock time at most), then kills the child and starts another;
- the answer is plain JSON of at most `Limits.max_result_bytes` bytes;
- it runs at the lowest CPU priority (SCHED_IDLE): while it burns its time budget, the
  service's own threads (requests of every tenant) get the CPU first; its time budget is
  counted in CPU seconds, so a busy machine slows a costly expression but does not fail it.

Each failure is a `SandboxError` whose message says which budget was exceeded; the caller turns it
into a step failure of kind ``expression``. This module imports only the standard library, ``cel``
and the definition errors (the child imports nothing else: it starts fast and small).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import cel

from engine.definition.errors import NotJsonError, SandboxError

_HEADER = struct.Struct(">I")
NICENESS = 19
"""Where SCHED_IDLE is not available, the sandbox runs this much nicer than the service."""
_CHILD = f"""
import contextlib, os
try:  # first of all: the imports below yield to the service as well
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
except (AttributeError, OSError):
    with contextlib.suppress(OSError):
        os.nice({NICENESS})
from engine.definition.sandbox import serve
serve()
"""


@dataclass(frozen=True)
class Limits:
    """The budgets of one evaluation in the sandbox (settings `PLATINUM_EXPRESSION_*`)."""

    timeout_s: float = 1.0
    memory_mb: int = 256
    max_result_bytes: int = 1024 * 1024


# --------------------------------------------------------------------------------------------
# JSON of CEL values (shared with the in-process path)


def plain_json(value: Any) -> Any:
    """A CEL result as plain JSON data; NotJsonError (the reason) for values JSON lacks."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotJsonError(f"gave {value}, which is not a JSON number")
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, cel.OptionalValue):
        return plain_json(value.value()) if value.has_value() else None
    raise NotJsonError(f"gave a {type(value).__name__}, which is not a JSON value")


def first_line(e: BaseException) -> str:
    """The useful first line of a CEL error."""
    text = str(e) or type(e).__name__
    if text.startswith("Failed to parse expression") and "': " in text:
        return text.split("': ", 1)[1]  # the binding repeats the source; keep the caret lines
    return text.splitlines()[0]


# --------------------------------------------------------------------------------------------
# The parent's side


class Sandbox:
    """A child process evaluating CEL under `Limits`; thread-safe (one evaluation at a time)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def evaluate(self, source: str, context: Mapping[str, Any]) -> Any:
        """The expression's value as plain JSON. Raises SandboxError."""
        request = json.dumps(
            {"src": source, "ctx": context, "max": self.limits.max_result_bytes},
            separators=(",", ":"),
        ).encode()
        with self._lock:
            proc = self._child()
            budget = _Budget(proc.pid, self.limits.timeout_s)
            try:
                assert proc.stdin is not None
                assert proc.stdout is not None
                _write_frame(proc.stdin, request)
                header = _read_exact(proc.stdout, _HEADER.size, budget)
                answer = json.loads(_read_exact(proc.stdout, _HEADER.unpack(header)[0], budget))
            except TimeoutError as e:
                self._kill(respawn=True)
                raise SandboxError(f"{e} (the time budget)") from None
            except (OSError, EOFError, ValueError):
                self._kill(respawn=True)
                raise SandboxError(
                    f"exceeded the memory budget ({self.limits.memory_mb} MB)"
                ) from None
        if "error" in answer:
            raise SandboxError(str(answer["error"]))
        return answer["ok"]

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _child(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "PLATINUM_SANDBOX_MEMORY_MB": str(self.limits.memory_mb),
        }
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            # at its low priority from the start: its imports already yield to the service
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        return self._proc

    def _kill(self, *, respawn: bool = False) -> None:
        """Stop the child; with ``respawn`` start the next one now (it imports while we go on)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGKILL)
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        if respawn:
            self._child()


def _write_frame(out: IO[bytes], payload: bytes) -> None:
    out.write(_HEADER.pack(len(payload)) + payload)
    out.flush()


class _Budget:
    """The time budget of one evaluation: CPU seconds of the child (read from /proc, so a busy
    machine does not fail an expression that merely waited for a core), and, as a backstop,
    `WALL_FACTOR` times as many seconds of wall-clock time (the only measure without /proc)."""

    def __init__(self, pid: int, seconds: float) -> None:
        self.pid, self.seconds = pid, seconds
        self.cpu_start = _cpu_seconds(pid)
        self.wall = seconds * (WALL_FACTOR if self.cpu_start is not None else 1)
        self.wall_end = time.monotonic() + self.wall

    def check(self) -> None:
        """Raise TimeoutError (the reason) when a budget is spent."""
        if self.cpu_start is not None:
            used = _cpu_seconds(self.pid)
            if used is not None and used - self.cpu_start > self.seconds:
                raise TimeoutError(f"took more than {self.seconds:g}s of CPU")
        if time.monotonic() > self.wall_end:
            raise TimeoutError(f"took longer than {self.wall:g}s")


WALL_FACTOR = 5
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process, from /proc; None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _read_exact(pipe: IO[bytes], n: int, budget: _Budget) -> bytes:
    fd = pipe.fileno()
    chunks: list[bytes] = []
    while n > 0:
        ready, _, _ = select.select([fd], [], [], 0.02)
        if not ready:
            budget.check()
            continue
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# The child's side


def serve() -> None:  # pragma: no cover - runs in the child process
    """The child's loop: read a request, evaluate, answer; exits at end of input."""
    import resource

    cap = int(os.environ.get("PLATINUM_SANDBOX_MEMORY_MB", "256")) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    programs: dict[str, Any] = {}
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        request = json.loads(stdin.read(_HEADER.unpack(header)[0]))
        try:
            answer = _answer(request, programs)
        except MemoryError:
            programs.clear()
            answer = b'{"error":"exceeded the memory budget"}'
        _write_frame(stdout, answer)


def _answer(request: dict[str, Any], programs: dict[str, Any]) -> bytes:  # pragma: no cover
    src = request["src"]
    try:
        program = programs.get(src)
        if program is None:
            if len(programs) > 256:
                programs.clear()
            program = programs[src] = cel.compile(src)
        value = plain_json(program.execute(request["ctx"]))
    except KeyError as e:
        return json.dumps({"error": f"no such key: {e}"}).encode()
    except MemoryError:
        raise
    except Exception as e:  # CEL raises several types; all are evaluation errors here
        return json.dumps({"error": first_line(e)}).encode()
    out = json.dumps({"ok": value}, separators=(",", ":")).encode()
    if len(out) > request["max"]:
        return json.dumps(
            {"error": f"gave {len(out):,} bytes of JSON; the limit is {request['max']:,} bytes"}
        ).encode()
    return out
