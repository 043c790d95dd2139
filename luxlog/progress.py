"""A Rich progress bar behind the plain ``progress(done, total)`` callback the library uses.

The library reports progress through a callable so it never imports Rich; only a
terminal session pays for the bar.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import TaskID


class RichProgress:
    """Context manager yielding a ``progress(done, total)`` callback drawing a bar."""

    def __init__(self, description: str) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._description = description
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task(self._description, total=total)
        self._progress.update(self._task, completed=done, total=total)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._progress.stop()
