"""Upstream faults, end to end: gunicorn (2 workers x 8 threads) in front of the fake upstream.

Each fault gets the answer docs/llm.md documents, a fallback answers where one is configured,
and the request's one telemetry event records what went wrong. Then a run of failing
requests must leave no worker stuck and no thread or socket behind.
"""

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability import procfs
from tests.reliability.conftest import scale
from tests.reliability.gateway import ENV, Gateway, wait_until
from tests.reliability.upstream import FAILING, FAULTS, Fault

pytestmark = pytest.mark.slow

CONCURRENCY = 16  # clients: twice the threads of one worker
FAILING_REQUESTS = scale(300, 1500)
# The most threads a worker holds without a leak: its main thread, gthread's pool at full size
# (started lazily, so a warm-up may not have filled it) and the telemetry writer's thread.
THREAD_CEILING = 1 + int(ENV["GUNICORN_THREADS"]) + 1
# What may differ after the run without being a leak: a pooled upstream connection more
# (each worker pools up to its 8 threads' connections).
SOCKET_SLACK = 8


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, routes_file, database):
    gateway = Gateway(tmp_path_factory.mktemp("upstream-faults"), routes_file, database)
    try:
        yield gateway.start()
    finally:
        gateway.kill()


def sse_events(body: bytes) -> list:
    chunks = [chunk for chunk in body.decode().split("\n\n") if chunk]
    return [
        chunk[6:] if chunk == "data: [DONE]" else json.loads(chunk.removeprefix("data: "))
        for chunk in chunks
    ]


def events_by_request(gateway: Gateway, request_ids: list[str]) -> dict[str, list[dict]]:
    """The stored events of these requests, once every one of them has one."""

    def stored():
        found: dict[str, list[dict]] = {}
        for event in gateway.csv_events():
            found.setdefault(event["request_id"], []).append(event)
        return found if set(request_ids) <= set(found) else None

    found = wait_until(stored) or {}
    missing = set(request_ids) - set(found)
    assert not missing, f"{len(missing)} requests have no stored event"
    return {request_id: found[request_id] for request_id in request_ids}


def send(gateway: Gateway, fault: Fault):
    if fault.abandon:
        return gateway.abandon(fault.model)
    return gateway.llm(fault.model, stream=fault.stream)


def check_answer(fault: Fault, reply) -> None:
    assert reply is not None, "no complete response"
    assert reply.status == fault.status, reply.body[:300]
    if fault.abandon:
        assert reply.body.startswith(b"data: {")
    elif fault.stream:
        assert reply.headers["content-type"].startswith("text/event-stream")
        last = sse_events(reply.body)[-1]
        if fault.code:  # the status was already sent: the error is the last event
            assert last["error"]["code"] == fault.code
        else:
            assert last == "[DONE]"
    elif fault.code:
        assert json.loads(reply.body)["code"] == fault.code
    else:
        assert json.loads(reply.body)["completion"].startswith("Fake answer")
    assert reply.headers.get("retry-after") == fault.retry_after


def check_event(fault: Fault, event: dict) -> None:
    # A client that hangs up is recorded as nginx counts it: 499, and says so.
    assert event["status_code"] == (499 if fault.abandon else fault.status)
    assert event["event_type"] == "llm_completion"
    assert (event["model"], event["soeid"]) == (fault.model, "reliability")
    if fault.code:
        assert event["error"].startswith(fault.code + ": ")
    elif fault.abandon:
        assert event["error"].startswith("client_disconnected: ")
    else:
        assert event["error"] is None
        assert event["total_tokens"] > 0
    assert event["extra"].get("client_disconnected", False) is fault.abandon
    if fault.fallback:
        assert event["extra"]["fallback_from"] == fault.model
        assert (event["target_service"], event["provider"]) == ("backup", "gemini")
    else:
        assert "fallback_from" not in event["extra"]


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_fault_gets_its_documented_answer_and_one_event_with_the_error(gateway, fault):
    reply = send(gateway, fault)
    check_answer(fault, reply)
    [[event]] = events_by_request(gateway, [reply.request_id]).values()
    check_event(fault, event)


def test_slow_drip_stream_arrives_whole(gateway):
    reply = gateway.llm("drip", stream=True)
    deltas = [event["delta"] for event in sse_events(reply.body) if "delta" in event]
    assert len(deltas) == 40  # every piece the fake dripped, none lost or merged


def test_a_client_that_hangs_up_gets_the_upstream_stream_closed_at_once(gateway, fake_upstream):
    reply = gateway.abandon("drip")
    assert reply.status == 200
    seen = wait_until(lambda: _last_finished(fake_upstream.requests_for("up-drip")))
    # The fake was still dripping (40 pieces, 0.4 s) when the gateway hung up on it.
    assert seen and seen.aborted


def _last_finished(seen: list):
    return seen[-1] if seen and seen[-1].done.is_set() else None


def send_all(gateway: Gateway, faults: list[Fault]) -> list:
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(lambda fault: send(gateway, fault), faults))


def holdings(gateway: Gateway, workers: set[int]) -> dict[int, procfs.Holdings]:
    return {pid: procfs.holdings(pid) for pid in sorted(workers)}


def test_failing_requests_leave_no_worker_stuck_and_no_thread_or_socket_behind(gateway, report):
    workers = gateway.workers()
    # Warm up at the same concurrency, so each worker's thread pool and upstream connection
    # pool reach the size this load needs: only growth beyond that is a leak.
    send_all(gateway, FAILING * 8)
    before = holdings(gateway, workers)

    faults = [FAILING[n % len(FAILING)] for n in range(FAILING_REQUESTS)]
    replies = send_all(gateway, faults)

    assert all(replies), f"{replies.count(None)} requests got no complete response"
    assert Counter(reply.status for reply in replies) == Counter(f.status for f in faults)
    assert gateway.workers() == workers, "a worker died or was replaced during the run"

    def settled():
        now = holdings(gateway, workers)
        return now if all(_within(now[pid], before[pid]) for pid in workers) else None

    after = wait_until(settled, timeout=20) or holdings(gateway, workers)
    report.record(
        "upstream faults: failing requests",
        requests=len(faults),
        kinds=len(FAILING),
        before=before,
        after=after,
    )
    for pid in workers:
        assert _within(after[pid], before[pid]), f"worker {pid}: {before[pid]} -> {after[pid]}"

    # No worker stuck: every thread of both workers still answers, at once.
    ok = send_all(gateway, [Fault("ok", "ok", 200)] * (2 * CONCURRENCY))
    assert [reply and reply.status for reply in ok] == [200] * len(ok)
    assert gateway.health(timeout=5)["status"] == "healthy"

    events = events_by_request(gateway, [reply.request_id for reply in replies])
    for [event] in events.values():  # exactly one each
        assert event["error"] or event["extra"]["client_disconnected"]


def _within(now: procfs.Holdings, before: procfs.Holdings) -> bool:
    return now.threads <= THREAD_CEILING and now.sockets <= before.sockets + SOCKET_SLACK
