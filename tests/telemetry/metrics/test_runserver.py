"""`make run`'s server (runserver, one process, DEBUG on): the same metrics, kept in memory."""

import pytest

from tests.browser import DevelopmentSite
from tests.fake_upstream import FakeUpstream
from tests.samples import parse, total
from tests.security.gateway import routes
from tests.telemetry.metrics.conftest import TOKEN

pytestmark = pytest.mark.slow


def test_runserver_counts_its_requests_in_memory(tmp_path):
    with FakeUpstream() as fake:
        site = DevelopmentSite.configure(
            tmp_path, routes(fake), DEBUG="true", ALLOW_DEFAULT_TOKEN="true", METRICS_TOKEN=TOKEN
        )
        with site:
            for _ in range(3):
                assert site.post("/api/llm/completion", {"prompt": "Hi"}).status_code == 200
            response = site.get("/metrics", Authorization=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples = parse(response.text)
    route = {"http_route": "/api/llm/completion", "http_response_status_code": "200"}
    assert total(samples, "http_server_request_duration_seconds_count", **route) == 3
    usage = sum(seen.usage["prompt_tokens"] for seen in fake.requests_for("up-main"))
    assert total(samples, "gen_ai_client_token_usage_sum", gen_ai_token_type="input") == usage
    assert not (tmp_path / "spool" / "metrics").exists()  # no multiprocess files
