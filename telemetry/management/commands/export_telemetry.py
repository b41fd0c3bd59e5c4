import os
import sys
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from telemetry.errors import StoreUnavailable
from telemetry.export import FORMATS, ExportSummary, export_events
from telemetry.management.options import (
    add_filter_arguments,
    add_source_arguments,
    backend_from,
    filters_from,
    unavailable,
)
from telemetry.management.progress import Progress, plain
from telemetry.selectors import count_events


class Command(BaseCommand):
    help = (
        "Export telemetry events, oldest first, as CSV (formula-safe, for spreadsheets), "
        "a JSON array or NDJSON. Streams: memory stays flat whatever the size."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--format", choices=FORMATS, default="csv", help="output format (default: csv)"
        )
        parser.add_argument("--output", "-o", type=Path, help="file to write (default: stdout)")
        add_filter_arguments(parser)
        add_source_arguments(parser)

    def handle(self, *args, format, output, **options):
        filters, backend = filters_from(options), backend_from(options)
        try:
            summary = self._export(backend, filters, format, output)
        except StoreUnavailable as exc:
            raise unavailable(exc) from exc
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, as shell tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        # The summary goes with the data's path: stdout when the data went to a file;
        # stderr, unstyled, when stdout is the data.
        if output is not None:
            self.stdout.write(str(summary))
        else:
            self.stderr.write(str(summary), style_func=plain)

    def _export(self, backend, filters, fmt: str, output: Path | None) -> ExportSummary:
        progress = self._progress(backend, filters)
        try:
            with self._output(output) as out:
                return export_events(
                    backend=backend, filters=filters, fmt=fmt, out=out, progress=progress
                )
        finally:
            if progress:
                progress.close()  # ends the progress line, also when the export failed

    def _progress(self, backend, filters) -> Progress | None:
        """A progress line on a terminal only: never in a pipe, a log or a cron mail."""
        if not self.stderr.isatty():
            return None
        return Progress(self.stderr, total=count_events(backend=backend, filters=filters))

    @contextmanager
    def _output(self, path: Path | None):
        """stdout, or FILE written as FILE.partial and renamed once complete."""
        if path is None:
            yield _binary(self.stdout)
            return
        if path.is_dir():
            raise CommandError(f"--output {path} is a directory: name a file to write.")
        if not path.parent.is_dir():
            raise CommandError(f"--output {path}: no such directory {path.parent}.")
        partial = path.with_name(path.name + ".partial")
        try:
            with open(partial, "wb") as out:
                yield out
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise


def _binary(stdout):
    """The byte stream under stdout; a text adapter when there is none (call_command)."""
    buffer = getattr(stdout, "buffer", None)
    if buffer is not None:
        stdout.flush()
        return buffer
    return _TextSink(stdout)


class _TextSink:
    def __init__(self, stream):
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data.decode(), ending="")

    def flush(self) -> None:
        self.stream.flush()
