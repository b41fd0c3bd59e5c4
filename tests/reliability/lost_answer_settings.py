"""The production settings, with the primary store replaced by one that can be made to lose
the answer to a write (tests/reliability/lost_answer.py): the only change."""

from dgen_ping_site.settings import *  # noqa: F403
from dgen_ping_site.settings import TELEMETRY

TELEMETRY["STORES"]["primary"]["BACKEND"] = "tests.reliability.lost_answer.AnswerLostOnArm"
