"""Policy hot reload: the policy file is re-read when it changes (checked at most once per interval, on
the request path, so no background task is needed) or after SIGHUP. A broken file keeps the last good
policy, logs every problem with file:line:col and counts a reload error."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from minorguard.engine import Engine
from minorguard.errors import MinorguardError, PolicyError
from minorguard.metrics import Metrics
from minorguard.rules.compiled import CompiledPolicy

Compiler = Callable[[Path], CompiledPolicy]

LOG = logging.getLogger("minorguard")


class PolicyReloader:
    def __init__(
        self,
        source: str | Path,
        *,
        compile_policy: Compiler,
        metrics: Metrics | None = None,
        interval: float = 2.0,
        watching: Iterable[Path] = (),
    ) -> None:
        self.path = Path(source)
        self.compile_policy = compile_policy  # the composition root's: it knows the calendars
        self.metrics = metrics
        self._stamp = self._stat(tuple(watching))
        self._forced = False
        self._checked = time.monotonic()
        self.interval = interval  # sets `due`

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = seconds
        # the monotonic time of the next look at the files: callers may skip `maybe_reload` before it
        self.due = self._checked + seconds

    def install_sighup(self) -> bool:
        """Reload on SIGHUP (main thread only). Returns False where signals cannot be installed."""
        try:
            signal.signal(signal.SIGHUP, lambda *_: self.force())
        except (ValueError, AttributeError):
            return False
        return True

    def force(self) -> None:
        self._forced = True
        self.due = 0.0

    def maybe_reload(self, engine: Engine) -> None:
        now = time.monotonic()
        if now < self.due:
            return
        self._checked = now
        self.due = now + self._interval
        stamp = self._stat(engine.policy.policy.calendar_files)
        if not self._forced and stamp == self._stamp:
            return
        self._forced = False
        self._stamp = stamp
        self.reload(engine)

    def reload(self, engine: Engine) -> bool:
        try:
            compiled = self.compile_policy(self.path)
        except PolicyError as exc:
            for problem in exc.problems:
                LOG.error("policy reload failed: %s", problem)
            LOG.error(
                "policy reload failed: keeping %s (revision %s)",
                engine.policy.name,
                engine.policy.policy.revision,
            )
            self._count("error")
            return False
        except (MinorguardError, OSError) as exc:
            LOG.error("policy reload failed: %s", exc)
            self._count("error")
            return False
        except Exception:  # a loader bug must never take the last good policy (or the request) with it
            LOG.exception("policy reload failed unexpectedly: keeping %s", engine.policy.name)
            self._count("error")
            return False
        engine.policy = compiled
        LOG.info("policy reloaded: %s (revision %s)", compiled.name, compiled.policy.revision)
        self._count("success")
        if self.metrics is not None:
            self.metrics.set_policy(compiled.name, compiled.policy.revision)
        return True

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.policy_reloads.labels(result).inc()

    def _stat(self, calendar_files: tuple[Path, ...]) -> tuple[tuple[int, int] | None, ...]:
        """The policy file's and its holiday override files' modification times and sizes: an edited
        override file changes decisions too."""
        return tuple(_file_stamp(path) for path in (self.path, *calendar_files))


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)
