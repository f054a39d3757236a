"""What the tests' server processes (FerretDB, Beam job servers, a worker pool) share:
a log file to show when they fail, and `with` support that always stops them."""

from __future__ import annotations

from pathlib import Path
from typing import Self

LOG_TAIL_CHARS = 4000


class LoggedProcess:
    """Subclasses set `log_path` when they start and define `start()` and `stop()`."""

    log_path: Path | None = None

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log_text(self) -> str:
        """The whole log ('' if there is none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last `chars` characters of the log."""
        return self.log_text()[-chars:]

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
