"""Choosing the store with {"BACKEND": dotted path, "OPTIONS": {...}}, Django's idiom."""

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from telemetry.backends import get_backend, load_backend
from telemetry.backends.csv import CSVBackend

MONGO = "telemetry.backends.mongo.MongoBackend"


def test_a_backend_is_built_from_its_dotted_path_and_options(tmp_path):
    store = load_backend({"BACKEND": "telemetry.backends.csv.CSVBackend",
                          "OPTIONS": {"directory": tmp_path, "max_bytes": 10}})  # fmt: skip
    assert isinstance(store, CSVBackend) and store.max_bytes == 10


@pytest.mark.parametrize(
    "config, message",
    [
        ({"BACKEND": "telemetry.backends.nope.Store"}, "Could not import telemetry backend"),
        ({"BACKEND": "collections.OrderedDict"}, "is not a TelemetryBackend"),
        (
            {"BACKEND": "telemetry.backends.csv.CSVBackend", "OPTIONS": {"folder": "x"}},
            "Bad OPTIONS for telemetry backend",
        ),
        ({"BACKEND": MONGO, "OPTIONS": {"uris": []}}, "MONGO_URI"),
    ],
)
def test_a_wrong_configuration_says_what_is_wrong(config, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_backend(config)


def test_the_configured_store_is_built_once_per_process(recorded):
    assert get_backend() is get_backend()
    assert get_backend("fallback") is not get_backend()


def test_manage_py_check_reports_a_wrong_backend(settings):
    settings.TELEMETRY = {**settings.TELEMETRY, "BACKEND": "telemetry.backends.nope.Store"}
    assert [error.id for error in run_checks()] == ["telemetry.E001"]
