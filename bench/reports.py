"""Reports on a million stored events: the dashboard's default view and
/api/telemetry/usage/me, on the CSV store and on MongoDB (a SecantusDB server).

Run by bench/run.py in a child process with the gateway's production settings:
    python -m bench.reports --events 1000000 --out reports.json

For each store:
- store the events (CSV: through the store's write_batch, rollups kept as the writer keeps
  them; MongoDB: insert_many of the documents, the store's indexes, then the rollups counted
  by `telemetry_rollups --rebuild`'s code from the same events: SecantusDB, a Python server,
  stores 120 to 380 events a second through write_batch, so a million would take hours;
  write_batch's own rate is measured on a sample instead);
- time GET /dashboard/ (a staff session, the default view: the last 7 days) and GET
  /api/telemetry/usage/me (a user token, no parameters: all time), through Django's whole
  request cycle in this process (middleware, authentication, templates): the first answer,
  then the median and the worst of the next ones;
- time usage/me once with `since=7d`, a range that is not whole days: counted from the
  events, as every report was before rollups;
- time a rebuild of the CSV store's rollups from its files (`telemetry_rollups --rebuild`).

The events: 30 days up to now, 200 SOEIDs in 20 projects (each SOEID in one, every tenth in
a second), 4 models (each SOEID uses 2), 90 % llm_completion and 10 % http_request, one token
per SOEID, 96 % answered 200 and 2 % 429, 1 % 502, 1 % 401, latencies log-normal around
800 ms, 3 of the 4 models priced.
"""

import argparse
import json
import math
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from bench.procs import free_port

BATCH = 1000
SOEIDS, PROJECTS = 200, 20
MODELS = {"gemini": 0.15, "gpt-4o-mini": 0.6, "claude-haiku": 1.0, "local-llama": None}
STATUSES = [200] * 96 + [429] * 2 + [502, 401]
REPEATS = {"dashboard": 10, "usage_me": 50}
SAMPLE = 5_000  # events stored through MongoBackend.write_batch to time it


def events(count: int, seed: int = 1) -> Iterator[list[dict]]:
    """The benchmark's events in batches of BATCH, over the 30 days up to now (UTC)."""
    from dgen_ping_site.clock import iso_utc, utcnow
    from telemetry.schema import build_event

    rnd, now, models = random.Random(seed), utcnow(), list(MODELS)
    span = timedelta(days=30).total_seconds()
    for start in range(0, count, BATCH):
        batch = []
        for i in range(start, min(start + BATCH, count)):
            person = rnd.randrange(SOEIDS)
            second = person % 10 == 0 and rnd.random() < 0.5  # every tenth: a second project
            project = (person + second) % PROJECTS
            model = models[(person + rnd.randrange(2)) % len(models)]
            status = rnd.choice(STATUSES)
            prompt, completion = rnd.randint(20, 2000), rnd.randint(1, 800)
            price = MODELS[model]
            batch.append(
                build_event(
                    timestamp=iso_utc(now - timedelta(seconds=span * (i / count))),
                    event_type="llm_completion" if rnd.random() < 0.9 else "http_request",
                    soeid=f"user{person:03d}",
                    project_name=f"project{project:02d}",
                    model=model,
                    token_jti=f"jti-{person:03d}",
                    status_code=status,
                    latency_ms=rnd.lognormvariate(math.log(800), 0.6),
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=prompt + completion,
                    cost=None if price is None else (prompt + 4 * completion) * price / 1e6,
                    error="upstream failed" if status >= 500 else None,
                    endpoint="/v1/chat/completions",
                    method="POST",
                )
            )
        yield batch


# --- timing ---------------------------------------------------------------------------------


def timings(call, repeats: int) -> dict:
    """The first call's time, then the median and worst of `repeats` more (milliseconds)."""
    first = _timed(call)
    rest = sorted(_timed(call) for _ in range(repeats))
    return {
        "first_ms": round(first, 1),
        "p50_ms": round(statistics.median(rest), 1),
        "max_ms": round(rest[-1], 1),
        "calls": repeats,
    }


def _timed(call) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.content[:500]!r}")
    return elapsed


def reports() -> dict:
    """Time the dashboard's default view and usage/me on the configured store."""
    from django.contrib.auth.models import User
    from django.test import Client

    from accounts.tokens import issue_token

    user, _ = User.objects.get_or_create(username="bench-staff", is_staff=True)
    staff = Client(HTTP_HOST="127.0.0.1")
    staff.force_login(user)
    token = issue_token(soeid="user007").token
    person = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_TOKEN=token)
    return {
        "dashboard": timings(lambda: staff.get("/dashboard/"), REPEATS["dashboard"]),
        "usage_me": timings(lambda: person.get("/api/telemetry/usage/me"), REPEATS["usage_me"]),
        "usage_me_counted_ms": round(
            _timed(lambda: person.get("/api/telemetry/usage/me", {"since": "7d"})), 1
        ),
    }


# --- the stores -----------------------------------------------------------------------------


def on_csv(count: int) -> dict:
    from telemetry.backends import stores

    store = stores[stores.default_alias()]
    started = time.perf_counter()
    for batch in events(count):
        store.write_batch(batch)
    seconds = time.perf_counter() - started
    _progress(f"CSV: {count} events stored in {seconds:.1f} s")
    size = sum(path.stat().st_size for path in store.files())
    stored = {"events": count, "seconds": round(seconds, 1), "events_per_s": round(count / seconds)}
    timed = reports()
    started = time.perf_counter()
    store.rebuild_rollups()  # what `telemetry_rollups --rebuild` (or a lost rollups file) costs
    stored["rollups_rebuild_s"] = round(time.perf_counter() - started, 1)
    return {"store": {**stored, "csv_mb": round(size / 2**20)}, **timed}


def on_mongo(count: int, tmp: Path) -> dict:
    from django.conf import settings
    from django.test import override_settings

    secantusd = _secantusd()
    if secantusd is None:
        return {"skipped": "no SecantusDB in .mongo-venv (`make test` installs it)"}
    server = _start_secantus(secantusd, tmp)
    try:
        uri = f"mongodb://127.0.0.1:{server.port}"
        options = {**settings.TELEMETRY_MONGO["OPTIONS"], "uri": uri, "db_name": "bench"}
        # SecantusDB answers a read of a million documents slower than the store's socket
        # timeout (10 s, or MONGO_TIMEOUT_MS when larger) allows: a minute here.
        options["server_selection_timeout_ms"] = 60_000
        primary = {**settings.TELEMETRY_MONGO, "OPTIONS": options}
        telemetry = {**settings.TELEMETRY, "STORES": {"primary": primary}, "CHAIN": ["primary"]}
        with override_settings(TELEMETRY=telemetry, TELEMETRY_BACKEND="mongo"):
            return _measure_mongo(count, uri)
    finally:
        _stop(server)


def _measure_mongo(count: int, uri: str) -> dict:
    import pymongo

    from telemetry.backends import mongo_rollups, stores
    from telemetry.backends.mongo import ensure_indexes, index_specs, to_document

    stores.reset()
    collection = pymongo.MongoClient(uri, tz_aware=True)["bench"]["telemetry"]
    started = time.perf_counter()
    for batch in events(count):
        collection.insert_many([to_document(event) for event in batch], ordered=False)
    loaded = time.perf_counter() - started
    _progress(f"MongoDB: {count} documents inserted in {loaded:.1f} s")
    started = time.perf_counter()
    # The store's own indexes, built here: on a million documents SecantusDB takes longer
    # than the store's socket timeout (10 s) to build one.
    ensure_indexes(collection, index_specs(None))
    indexed = time.perf_counter() - started
    _progress(f"MongoDB: indexed in {indexed:.1f} s")
    store = stores["primary"]  # not connected yet
    started = time.perf_counter()
    # The rebuild's counting (telemetry_rollups --rebuild), fed the same events again rather
    # than read back: SecantusDB answers a find only once it has read every document it
    # matches (8 s for the first batch of 200,000), past any socket timeout for a million.
    # Written before the store first connects, so it finds its rollups vouching for every
    # event and need not look for one (a find_one SecantusDB answers by a full scan).
    rollups = collection.database[store.rollup_collection_name]
    mongo_rollups.replace(rollups, (e for b in events(count) for e in b))
    rebuilt = time.perf_counter() - started
    _progress(f"MongoDB: rollups counted in {rebuilt:.1f} s")
    sample = _write_rate(store)
    return {
        "store": {
            "events": count,
            "insert_many_s": round(loaded, 1),
            "index_s": round(indexed, 1),
            "rollups_counted_s": round(rebuilt, 1),
            "write_batch_events_per_s": sample,
        },
        "server": "SecantusDB (a MongoDB wire-protocol server written in Python)",
        **reports(),
    }


def _write_rate(store) -> int:
    """Events/s through write_batch (insert, then rollups), on a sample of fresh events."""
    started = time.perf_counter()
    for batch in events(SAMPLE, seed=2):
        for event in batch:
            event["event_id"] = uuid.uuid4().hex
        store.write_batch(batch)
    return round(SAMPLE / (time.perf_counter() - started))


def _secantusd() -> Path | None:
    from bench.gateway import ROOT

    path = Path(os.environ.get("SECANTUSD", ROOT / ".mongo-venv" / "bin" / "secantusd-py"))
    return path if path.is_file() else None


def _start_secantus(binary: Path, tmp: Path):
    """A SecantusDB on a free port of 127.0.0.1, with its own data directory."""
    import subprocess

    import pymongo

    data = tmp / "secantus"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    port = free_port()
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--standalone"]
    command += ["--storage-path", str(data), "--log-level", "WARNING", "--cache-size", "512M"]
    with (tmp / "secantus.log").open("ab") as log:
        server = subprocess.Popen(command, cwd=data, stdout=log, stderr=subprocess.STDOUT)
    server.port = port
    client = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=60_000)
    client.admin.command("ping")
    client.close()
    return server


def _stop(server) -> None:
    """SIGTERM, then SIGKILL if it is still writing its data out a minute later."""
    import subprocess

    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _progress(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)  # to the part's log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True, help="JSON result file")
    parser.add_argument("--skip-mongo", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", "--noinput", verbosity=0)  # as `make serve` does
    result = {"events": args.events, "csv": on_csv(args.events)}
    args.out.write_text(json.dumps(result))  # kept if MongoDB fails
    if not args.skip_mongo:
        try:
            result["mongodb"] = on_mongo(args.events, args.out.parent)
        except Exception as exc:  # said in the results, with the CSV figures
            result["mongodb"] = {"error": f"{type(exc).__name__}: {exc}"}
        args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
