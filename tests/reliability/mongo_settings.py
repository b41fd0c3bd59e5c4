"""The production settings, with the telemetry stores' MongoDB driver replaced by the shared
fake (tests/reliability/shared_mongo.py): the only change, made at the driver boundary."""

from dgen_ping_site.settings import *  # noqa: F403
from dgen_ping_site.settings import TELEMETRY, TELEMETRY_BACKEND

assert TELEMETRY_BACKEND == "mongo", "run with TELEMETRY_BACKEND=mongo"
for _store in TELEMETRY["STORES"].values():
    if _store["BACKEND"].endswith("MongoBackend"):
        _store["OPTIONS"]["client_factory"] = "tests.reliability.shared_mongo.SharedMongoClient"
