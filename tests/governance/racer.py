"""One process of the ledger race (tests/governance/test_ledger_race.py): threads reserving
on one counter of the database ledger, all starting at the same moment. Prints how many
reservations were granted.

python -m tests.governance.racer --threads 8 --calls 25 --start-at <epoch seconds>
(DATABASE_URL and the rest of the environment say which database.)
"""

import argparse
import os
import threading
import time
from datetime import UTC, datetime, timedelta

AMOUNT, LIMIT = 7, 700  # room for exactly 100 reservations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True, help="threads in this process")
    parser.add_argument("--calls", type=int, required=True, help="reservations per thread")
    parser.add_argument("--start-at", type=float, required=True, help="when all start (epoch)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgen_ping_site.settings")
    import django

    django.setup()
    from accounts.ledger.base import Entry
    from accounts.ledger.database import DatabaseLedger

    ledger, granted, lock = DatabaseLedger(), [], threading.Lock()
    entry = Entry("race", AMOUNT, 0, datetime.now(UTC) + timedelta(days=1), token_limit=LIMIT)

    def race() -> None:
        time.sleep(max(0.0, args.start_at - time.time()))
        mine = sum(ledger.reserve([entry]) is None for _ in range(args.calls))
        with lock:
            granted.append(mine)

    threads = [threading.Thread(target=race) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(sum(granted))


if __name__ == "__main__":
    main()
