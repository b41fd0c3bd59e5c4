"""Settings behaviour that only shows at start-up, so each case runs a real `manage.py`."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3Jx9-vQ2mZ8#rT5wL1pN7bY4cF6hD0gS2aE9uI3oK8jM5nB7x",
    "TOKEN_SECRET": "t" * 40,
    "ALLOWED_HOSTS": "gateway.example.com",
    # A real upstream: with none, production refuses to start (tests/site/test_safety.py).
    "API_ENDPOINT": "https://llm.example.com/v1",
    "MODEL": "a-model",
}


def manage(*args, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE"}}
    for name in (
        "DEBUG",
        "SECRET_KEY",
        "TOKEN_SECRET",
        "ALLOW_DEFAULT_TOKEN",
        "JWT_SIGNING_KEY",
        "SECURE_SSL_REDIRECT",
        "ALLOW_LOCAL_PROVIDER",
        "BEHIND_TLS_PROXY",
    ):
        clean.pop(name, None)
    clean.update({"ENV_FILE": "", "DJANGO_SETTINGS_MODULE": "dgen_ping_site.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_with_nothing_set_the_service_refuses_to_start_and_says_what_to_set():
    result = manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is missing" in result.stderr
    assert "make run" in result.stderr


def test_short_production_secret_is_refused():
    result = manage("check", **{**PRODUCTION, "TOKEN_SECRET": "dgen_secret_key"})
    assert result.returncode != 0
    assert "TOKEN_SECRET is missing or shorter than 32 characters" in result.stderr


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_the_default_token_in_production():
    result = manage("check", "--deploy", **PRODUCTION, ALLOW_DEFAULT_TOKEN="true")
    assert result.returncode == 1
    assert "ALLOW_DEFAULT_TOKEN is on" in result.stderr


def test_x_forwarded_proto_is_believed_only_when_behind_a_tls_proxy():
    show = (
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)",
    )
    assert manage(*show, **PRODUCTION).stdout.strip() == "None"
    behind = manage(*show, **PRODUCTION, BEHIND_TLS_PROXY="true").stdout.strip()
    assert behind == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_development_mode_needs_no_secrets():
    result = manage("check", DEBUG="true")
    assert result.returncode == 0, result.stderr


def test_upstream_pool_keeps_a_connection_per_gunicorn_thread(monkeypatch):
    monkeypatch.delenv("LLM_POOL_SIZE", raising=False)
    show = (
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.LLM['POOL_SIZE'])",
    )
    assert manage(*show, **PRODUCTION, GUNICORN_THREADS="96").stdout.strip() == "96"
    given = manage(*show, **PRODUCTION, GUNICORN_THREADS="96", LLM_POOL_SIZE="10")
    assert given.stdout.strip() == "10"
