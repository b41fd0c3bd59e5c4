"""LiteLLM's proxy against the same fake upstreams, for comparison.

As its production guide has it, minus what a gateway of ours does not do either: a master
key, no database (so no spend logs or virtual keys), the model-cost map read locally, one
worker (figures are then per worker, like the gateway's).
"""

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import payloads, procs
from bench.load import Request, probe

LIVENESS = Request("GET", "/health/liveliness")


@dataclass
class LiteLLM:
    proc: subprocess.Popen
    url: str
    key: str
    startup_s: float


def config(nginx_url: str, slow_url: str, master_key: str) -> dict:
    def model(name: str, base_url: str) -> dict:
        params = {
            "model": f"openai/{payloads.UPSTREAM_MODEL}",
            "api_base": base_url,
            "api_key": payloads.UPSTREAM_KEY,
        }
        return {"model_name": name, "litellm_params": params}

    return {
        "model_list": [
            model(payloads.MODEL_PLAIN, f"{nginx_url}/plain/v1"),
            model(payloads.MODEL_STREAM, f"{nginx_url}/stream/v1"),
            model(payloads.MODEL_SLOW, f"{slow_url}/plain/v1"),
        ],
        "general_settings": {"master_key": master_key},
        "litellm_settings": {"telemetry": False},
    }


def start(litellm: Path, tmp: Path, nginx_url: str, slow_url: str) -> LiteLLM:
    """Spawn `litellm --config`; returns once it answers its liveness probe."""
    key = "sk-" + secrets.token_urlsafe(24)
    config_file = tmp / "litellm.yaml"  # JSON is YAML
    config_file.write_text(json.dumps(config(nginx_url, slow_url, key), indent=2))
    port = procs.free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR")
    cmd = [str(litellm), "--config", str(config_file), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--num_workers", "1"]
    log = tmp / "litellm.log"
    proc = procs.spawn(cmd, log, env, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    waited = procs.wait_until(lambda: not probe(url, LIVENESS, timeout=2), proc, 120, log)
    return LiteLLM(proc, url, key, waited)
