"""Recovery of dead processes' spools: their unshipped events are stored by someone else.

A segment whose flock can be taken belongs to a process that is gone (killed, crashed, or
stopped with a store down). Any writer (or the shipper process) adopts it, ships it
from its checkpoint, skipping what a store already holds (its owner may have stored a batch
and died before saving the checkpoint), quarantining what no store will take, and deletes
it once everything in it is done with. The doubts a dead process left (telemetry.doubts)
are taken over too. One may be about a batch its segment still holds: shipping that batch
again asks the stores first, skips what they hold and records a doubt of its own about any
store it cannot ask, so a doubt settled before that loses and duplicates nothing.
"""

import logging
from collections.abc import Collection
from pathlib import Path

from telemetry.doubts import DoubtLedger
from telemetry.shipper import Shipper
from telemetry.spool import Segment, other_segments, remove_stray_checkpoints

logger = logging.getLogger("telemetry")


def recover_orphans(
    spool_dir: Path,
    own: Collection[Path],
    shipper: Shipper,
    doubts: DoubtLedger,
    handoff: bool = False,
) -> int:
    """Take over the doubts dead processes left in `spool_dir` and ship their segments; the
    number of events stored.

    Hand-off segments (gunicorn workers') only with `handoff`: the shipper process alone
    ships those. Stops at the first segment that cannot be shipped whole (no store takes
    writes now): it stays, with its checkpoint, for the next try.
    """
    adopted = doubts.adopt_orphans()
    if adopted:
        logger.info("Took over %d doubtful writes of dead processes", adopted)
    recovered = 0
    for path in other_segments(spool_dir, own, handoff):
        segment = Segment.adopt(path)
        if segment is None:
            continue  # its owner is alive
        shipped = shipper.ship_segment(segment, dedupe=True)
        segment.close(remove=shipped.done)
        recovered += shipped.stored
        if shipped.stored:
            logger.info("Recovered %d telemetry events from %s", shipped.stored, path.name)
        if not shipped.done:
            return recovered
    remove_stray_checkpoints(spool_dir)
    return recovered
