"""The ledger of doubts in the spool: real files, and real processes that hold them or die."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from telemetry.doubts import Doubt, DoubtLedger

ROOT = Path(__file__).resolve().parents[2]
# A process with one open doubt; it prints its ledger's path.
HOLD_A_DOUBT = """
import sys, time
from pathlib import Path
from telemetry.doubts import Doubt, DoubtLedger
ledger = DoubtLedger(Path(sys.argv[1]))
ledger.add(Doubt("primary", frozenset({"e1", "e2"}), None))
print(ledger.path, flush=True)
time.sleep(60)
"""


def doubt(*ids: str, store: str = "primary") -> Doubt:
    return Doubt(store, frozenset(ids), datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))


def ledgers(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.doubts"))


def test_a_doubt_is_on_disk_until_settled_then_the_file_goes(tmp_path):
    ledger = DoubtLedger(tmp_path)
    assert ledgers(tmp_path) == []  # nothing until the first doubt
    first, second = doubt("a", "b"), doubt("c", store="backup")
    ledger.add(first)
    ledger.add(second)
    lines = [json.loads(line) for line in ledger.path.read_text().splitlines()]
    assert [Doubt.from_record(line) for line in lines] == [first, second]
    ledger.settled(first)
    assert json.loads(ledger.path.read_text().splitlines()[-1]) == {"settled": first.key}
    assert list(ledger) == [second] and ledger.ids_about("backup") == {"c"}
    ledger.settled(second)
    assert ledgers(tmp_path) == [] and len(ledger) == 0


def test_open_doubts_are_left_at_close_and_taken_over_by_another_ledger(tmp_path):
    gone = DoubtLedger(tmp_path)
    settled, left = doubt("a"), doubt("b", "c")
    gone.add(settled)
    gone.add(left)
    gone.settled(settled)
    gone.close()
    assert len(ledgers(tmp_path)) == 1
    heir = DoubtLedger(tmp_path)
    assert heir.adopt_orphans() == 1
    assert list(heir) == [left]
    assert ledgers(tmp_path) == [heir.path]  # theirs went once it was in ours


def test_a_live_process_doubts_are_not_taken_over_but_a_killed_ones_are(tmp_path):
    owner = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_DOUBT, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ledger_path = Path(owner.stdout.readline().strip())
        heir = DoubtLedger(tmp_path)
        assert heir.adopt_orphans() == 0  # the owner lives: it holds the lock
    finally:
        owner.kill()  # SIGKILL: no cleanup of any kind
        owner.wait()
    assert heir.adopt_orphans() == 1
    assert [(d.store, d.ids) for d in heir] == [("primary", {"e1", "e2"})]
    assert not ledger_path.exists()


def test_a_torn_last_line_is_skipped(tmp_path):
    gone = DoubtLedger(tmp_path)
    kept = doubt("a")
    gone.add(kept)
    gone.close()
    with gone_path(tmp_path).open("ab") as file:
        file.write(b'{"doubt": "torn", "sto')  # the process died mid-write
    heir = DoubtLedger(tmp_path)
    assert heir.adopt_orphans() == 1 and list(heir) == [kept]


def gone_path(directory: Path) -> Path:
    (path,) = ledgers(directory)
    return path
