"""A one-line progress display for long exports, shown only on a terminal."""

import time


class Progress:
    """Redraws one stderr line (at most 5 times a second): a bar when the total is known."""

    WIDTH = 30

    def __init__(self, stream, total: int | None = None, interval: float = 0.2):
        self.stream = stream
        self.total = total
        self.interval = interval
        self.started = self.drawn = time.monotonic()
        self.events = self.bytes = 0

    def __call__(self, events: int, size: int) -> None:
        self.events, self.bytes = events, size
        now = time.monotonic()
        if now - self.drawn >= self.interval:
            self.drawn = now
            self._draw(now)

    def close(self) -> None:
        self._draw(time.monotonic())
        self._write("\n")
        self.stream.flush()

    def _write(self, text: str) -> None:
        # Unstyled: a management command's stderr is red by default, and this is no error.
        self.stream.write(text, ending="", style_func=plain)

    def _draw(self, now: float) -> None:
        rate = self.events / max(now - self.started, 1e-9)
        count = f"{self.events:,}" + (f"/{self.total:,}" if self.total else "")
        line = f"{count} events  {self.bytes / 1e6:.1f} MB  {rate:,.0f} events/s"
        if self.total:
            done = min(self.events / self.total, 1.0)
            line = f"[{'#' * round(done * self.WIDTH):-<{self.WIDTH}}] {done:4.0%}  {line}"
        self._write(f"\r{line}\x1b[K")  # \x1b[K: clear the rest of the line
        self.stream.flush()


def plain(text: str) -> str:
    """A style that leaves text as it is (Django styles a command's stderr as an error)."""
    return text
