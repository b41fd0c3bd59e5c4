"""Telemetry under faults, accounted for: traffic whose answers are all checked, and what
the stores hold matched to the requests by X-Request-ID."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.reliability.conftest import scale
from tests.reliability.gateway import Gateway

PHASE_REQUESTS = scale(40, 400)  # requests sent in each phase of a scenario
# Plain and streamed completions, and one the upstream fails: all recorded.
TRAFFIC = [("ok", False, 200), ("ok", True, 200), ("e500", False, 502)]


def traffic(gateway: Gateway, count: int = PHASE_REQUESTS) -> list[str]:
    """Send `count` LLM requests, 4 at a time; each must get its usual answer."""
    kinds = [TRAFFIC[n % len(TRAFFIC)] for n in range(count)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda kind: gateway.llm(kind[0], stream=kind[1]), kinds))
    statuses = [reply and reply.status for reply in replies]
    unexpected = [(n, got) for n, got in enumerate(statuses) if got != kinds[n][2]]
    assert unexpected == [], unexpected
    return [reply.request_id for reply in replies]


@dataclass
class Stored:
    """Events per store, and how they account for the requests the clients sent."""

    mongo: list[dict]
    csv: list[dict]

    def figures(self, requests: list[str]) -> dict:
        counts = Counter(event["request_id"] for event in self.mongo + self.csv)
        return {
            "requests": len(requests),
            "in_mongo": len(self.mongo),
            "in_csv": len(self.csv),
            "lost": sum(counts[request_id] == 0 for request_id in requests),
            "duplicated": sum(counts[request_id] > 1 for request_id in requests),
            "unexpected": len(set(counts) - set(requests)),
        }


def assert_exactly_once(stored: Stored, requests: list[str]) -> dict:
    figures = stored.figures(requests)
    assert (figures["lost"], figures["duplicated"], figures["unexpected"]) == (0, 0, 0), figures
    return figures


def failed_writes(gateway: Gateway, store: str = "") -> int:
    """Store writes that failed, as the workers logged them: the faults telemetry met."""
    return gateway.log().count(f"Telemetry store failed: {store}")
