"""Progress bars for the terminal, fed by the engines' ``Progress`` callbacks."""

from __future__ import annotations

import sys

from tqdm import tqdm

from brushwork.progress import Progress


def _short(value: float | int | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ProgressBar:
    """A callback that draws one tqdm bar on stderr; created on the first event, so an error
    before any work prints no empty bar. ``quiet`` turns it off; ``file`` is where it draws (default:
    ``sys.stderr`` when the bar starts); use as a context manager."""

    def __init__(self, quiet: bool = False, unit: str | None = None, file=None):
        self.quiet = quiet
        self.unit = unit
        self.file = file
        self.bar: tqdm | None = None
        self.last: Progress | None = None

    def __call__(self, event: Progress) -> None:
        self.last = event
        if self.bar is None:
            self.bar = tqdm(total=event.total, unit=self.unit or event.unit, disable=self.quiet,
                            dynamic_ncols=True, file=self.file or sys.stderr)
        if event.total is not None and self.bar.total != event.total:
            self.bar.total = event.total
        if event.info:
            self.bar.set_postfix({k: _short(v) for k, v in event.info.items()}, refresh=False)
        elif event.message:  # e.g. which result an evaluation is working on
            self.bar.set_postfix_str(event.message, refresh=False)
        self.bar.update(event.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
