"""Terminal output of a run: the progress bar and the end-of-run timing table."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from pipeline.stats import RunStats


@contextlib.contextmanager
def progress_bar(total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr (only on a terminal); yields the function that advances it."""
    if not enabled:
        yield lambda n: None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with tqdm(total=total, unit="frame", dynamic_ncols=True, disable=None, file=sys.stderr) as bar, \
            logging_redirect_tqdm():
        yield bar.update


def print_summary(stats: RunStats, output_dir: str) -> None:
    """Per-stage ms/frame and FPS, frames per source, drops and failures, on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    fps = stats.frames / stats.wall_s if stats.wall_s else 0.0
    console.print(f"{stats.frames} frames in {stats.wall_s:.1f} s ({fps:.1f} FPS end to end)")
    table = Table()
    table.add_column("stage")
    table.add_column("ms / frame", justify="right")
    table.add_column("FPS", justify="right")
    for name, timing in stats.stages.items():
        table.add_row(name, f"{timing.ms_per_frame:.2f}", f"{timing.fps:.1f}")
    console.print(table)
    for source_id, count in stats.frames_per_source.items():
        dropped = stats.dropped_per_source.get(source_id.split("/")[0], 0)
        reconnects = stats.reconnects.get(source_id, 0)
        console.print(f"  {source_id}: {count} frames" + (f", {dropped} dropped" if dropped else "")
                      + (f", {reconnects} reconnects" if reconnects else ""))
    for sink, waiting in stats.outbox.items():
        console.print(f"  sink {sink}: {waiting} events waiting in its outbox (delivered on the next run)")
    for source_id, error in stats.failed_sources.items():
        console.print(f"  [red]{source_id}: {error}[/red]")
    for stage_id, count in stats.stage_errors.items():
        console.print(f"  [red]stage {stage_id}: failed on {count} batch(es); those frames went on without it[/red]")
    if stats.dropped_on_stop:
        console.print(f"  {stats.dropped_on_stop} queued frames dropped: the stop took longer than "
                      "runner.shutdown_timeout_s")
    for sink_id, error in stats.failed_sinks.items():
        console.print(f"  [red]sink {sink_id}: closed after an error: {error}[/red]")
    for sink_id, error in stats.sink_errors.items():
        console.print(f"  [red]sink {sink_id}: went on after {error}[/red]")
    console.print(f"outputs in {output_dir}/")
