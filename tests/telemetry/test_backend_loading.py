"""Choosing stores with named {"BACKEND": dotted path, "OPTIONS": {...}}, Django's idiom, and
the handler that builds them (alias -> instance, per process)."""

import json
import os
import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from telemetry.backends import load_store, stores
from telemetry.backends.csv import CSVBackend
from tests.settings import TEST_ENV

MONGO = "telemetry.backends.mongo.MongoBackend"
CSV = "telemetry.backends.csv.CSVBackend"


def test_a_store_is_built_from_its_dotted_path_and_options(tmp_path):
    store = load_store({"BACKEND": CSV, "OPTIONS": {"directory": tmp_path, "max_bytes": 10}})
    assert isinstance(store, CSVBackend) and store.max_bytes == 10


@pytest.mark.parametrize(
    "config, message",
    [
        ({"BACKEND": "telemetry.backends.nope.Store"}, "Could not import telemetry backend"),
        ({"BACKEND": "collections.OrderedDict"}, "is not a TelemetryBackend"),
        ({"BACKEND": CSV, "OPTIONS": {"folder": "x"}}, "Bad OPTIONS for telemetry backend"),
        ({"BACKEND": MONGO, "OPTIONS": {"uri": ""}}, "MONGO_URI"),
        ({"BACKEND": MONGO, "OPTIONS": {"uri": "notauri"}}, "'notauri' is not a MongoDB URI"),
    ],
)
def test_a_wrong_configuration_says_what_is_wrong(config, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_store(config)


def test_each_store_is_built_once_per_process_and_the_chain_uses_them(recorded):
    assert stores["csv"] is stores["csv"]
    assert [link.store for link in stores.chain().links] == [stores["csv"]]
    assert stores.chain() is stores.chain()


def test_a_forked_child_builds_its_own_stores(recorded):
    parent = stores["csv"]
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        os._exit(0 if stores["csv"] is not parent else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert stores["csv"] is parent


def test_reset_forgets_the_stores(recorded):
    before = stores["csv"]
    stores.reset()
    assert stores["csv"] is not before


def test_manage_py_check_reports_a_wrong_backend(settings):
    settings.TELEMETRY = {
        **settings.TELEMETRY,
        "STORES": {**settings.TELEMETRY["STORES"], "csv": {"BACKEND": "nope.Store"}},
    }
    assert [error.id for error in run_checks()] == ["telemetry.E001"]


def test_manage_py_check_reports_a_chain_naming_an_unknown_store(settings):
    settings.TELEMETRY = {**settings.TELEMETRY, "CHAIN": ["csv", "mongo-typo"]}
    errors = run_checks()
    assert [error.id for error in errors] == ["telemetry.E001"]
    assert "mongo-typo" in errors[0].msg


@pytest.mark.parametrize(
    "env, chain",
    [
        ({}, ["csv"]),
        ({"MONGO_URI": "mongodb://a:27017"}, ["primary", "csv"]),
        (
            {"MONGO_URI": "mongodb://a:27017", "MONGO_BACKUP_URI": "mongodb://b,mongodb://c"},
            ["primary", "backup", "backup2", "csv"],
        ),
        ({"MONGO_URI": "mongodb://a:27017", "TELEMETRY_BACKEND": "csv"}, ["csv"]),
    ],
)
def test_the_documented_variables_build_the_chain(env, chain):
    """The original service's variables (MONGO_URI, MONGO_BACKUP_URI, ...) map onto STORES
    and CHAIN."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "t = s.TELEMETRY; print(json.dumps([t['CHAIN'], "
        "{a: c['OPTIONS'].get('uri') for a, c in t['STORES'].items()}]))"
    )
    run_env = {**os.environ, **TEST_ENV, "MONGO_BACKUP_URI": "", "TELEMETRY_BACKEND": "", **env}
    run_env["DJANGO_SETTINGS_MODULE"] = "dgen_ping_site.settings"
    if "TELEMETRY_BACKEND" not in env:
        run_env.pop("TELEMETRY_BACKEND")
    done = subprocess.run([sys.executable, "-c", code], env=run_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    got_chain, uris = json.loads(done.stdout)
    assert got_chain == chain
    if "MONGO_BACKUP_URI" in env:
        assert uris["backup2"] == "mongodb://c"
