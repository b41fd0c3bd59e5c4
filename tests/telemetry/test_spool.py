import json
import os
import subprocess
import sys
from pathlib import Path

from telemetry.spool import Segment, other_segments, prune, remove_stray_checkpoints

ROOT = Path(__file__).resolve().parents[2]
HOLD_A_SEGMENT = """
import sys, time
from pathlib import Path
from telemetry.spool import Segment
segment = Segment.create(Path(sys.argv[1]))
for n in range(int(sys.argv[2])):
    segment.append(b'{"event_id": "e", "n": %d}\\n' % n)
print(segment.path, flush=True)
time.sleep(60)
"""


def line(n: int) -> bytes:
    return json.dumps({"event_id": str(n), "n": n}).encode() + b"\n"


def numbers(batch) -> list[int]:
    return [event["n"] for event in batch.events]


def test_lines_are_read_in_batches_from_the_checkpoint(tmp_path):
    segment = Segment.create(tmp_path)
    for n in range(5):
        segment.append(line(n))
    first = segment.read(3)
    assert numbers(first) == [0, 1, 2]
    assert numbers(segment.read(3)) == [0, 1, 2]  # not committed: read again
    segment.commit(first)
    assert numbers(segment.read(3)) == [3, 4]
    segment.commit(segment.read(3))
    assert segment.read(3) is None and segment.pending_bytes == 0


def test_an_unfinished_last_line_is_left_for_later(tmp_path):
    segment = Segment.create(tmp_path)
    segment.append(line(1))
    os.write(segment.fd, b'{"n": 2')  # a write still under way
    segment.size += 7
    assert numbers(segment.read(10)) == [1]


def test_a_line_longer_than_a_read_chunk_is_read_whole(tmp_path):
    segment = Segment.create(tmp_path)
    big = json.dumps({"event_id": "0", "n": 0, "pad": "x" * 600_000}).encode() + b"\n"
    segment.append(big)
    segment.append(line(1))
    assert numbers(segment.read(10)) == [0, 1]


def test_the_checkpoint_outlives_the_segments_owner(tmp_path):
    segment = Segment.create(tmp_path)
    for n in range(4):
        segment.append(line(n))
    segment.commit(segment.read(2))
    segment.close(remove=False)
    adopted = Segment.adopt(segment.path)
    assert numbers(adopted.read(10)) == [2, 3]


def test_a_live_owners_segment_cannot_be_adopted_but_a_killed_ones_can(tmp_path):
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_SEGMENT, str(tmp_path), "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        path = Path(owner.stdout.readline().strip())
        assert other_segments(tmp_path, own=set()) == [path]
        assert Segment.adopt(path) is None
    finally:
        owner.kill()  # SIGKILL: no cleanup of any kind
        owner.wait()
    adopted = Segment.adopt(path)
    assert numbers(adopted.read(10)) == [0, 1, 2]
    adopted.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_checkpoints_without_a_segment_are_swept(tmp_path):
    live = Segment.create(tmp_path)
    live.append(line(0))
    live.commit(live.read(1))
    stray = tmp_path / "1-1.spool.ckpt"
    stray.write_bytes(b"0")
    remove_stray_checkpoints(tmp_path)
    assert not stray.exists() and live.checkpoint_path.exists()


def test_lines_that_are_not_events_are_reported_with_the_batch_not_dropped(tmp_path):
    segment = Segment.create(tmp_path)
    for raw in (line(0), b'{"torn": \n', b"[1, 2]\n", b'{"no": "id"}\n', b"\xff\xfe\n", line(1)):
        segment.append(raw)
    batch = segment.read(10)
    assert numbers(batch) == [0, 1]
    assert [reason.split(":")[0] for _, reason in batch.corrupt] == [
        "unreadable spool line",
        "spool line is not an event (no event_id)",
        "spool line is not an event (no event_id)",
        "unreadable spool line",
    ]


def test_prune_deletes_what_dead_processes_left_long_ago_but_never_a_live_segment(tmp_path):
    live = Segment.create(tmp_path)
    live.append(line(0))
    dead = Segment.create(tmp_path)
    dead.append(line(1))
    dead.commit(dead.read(1))
    dead.close(remove=False)  # its owner is gone
    stray = tmp_path / "1-1.spool.ckpt"
    stray.write_bytes(b"0")
    for path in tmp_path.iterdir():
        os.utime(path, (1, 1))  # written in 1970
    assert sorted(prune(tmp_path, before=2, dry_run=True)) == sorted(
        [dead.path, dead.checkpoint_path, stray]
    )
    assert dead.path.exists()  # a dry run deletes nothing
    prune(tmp_path, before=2)
    assert sorted(tmp_path.iterdir()) == [live.path]
    assert prune(tmp_path, before=0) == []  # nothing older than 1970
