"""What the telemetry commands say about themselves: every argument explains itself."""

import pytest
from django.core.management import load_command_class

COMMANDS = ["export_telemetry", "telemetry_stats", "replay_telemetry", "prune_telemetry"]
DJANGO_OWN = {"help", "version", "verbosity", "settings", "pythonpath", "traceback",
              "no_color", "force_color", "skip_checks"}  # fmt: skip


@pytest.mark.parametrize("name", COMMANDS)
def test_every_argument_has_help_text(name):
    command = load_command_class("telemetry", name)
    parser = command.create_parser("manage.py", name)
    ours = [action for action in parser._actions if action.dest not in DJANGO_OWN]
    assert ours, "the command has arguments"
    assert [action.dest for action in ours if not action.help] == []
    assert command.help
