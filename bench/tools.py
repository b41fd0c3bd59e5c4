"""Installs what the benchmark needs and the project does not: nginx and wrk from Debian,
LiteLLM's proxy into its own virtualenv (so it never touches the project's .venv), and
Portkey's gateway from npm into a directory of its own."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

APT_TOOLS = ("nginx", "wrk")  # binary name == Debian package name for both
LITELLM_VENV = Path(__file__).resolve().parent / ".litellm-venv"
LITELLM_SPEC = "litellm[proxy]"
PORTKEY_DIR = Path(__file__).resolve().parent / ".portkey"
PORTKEY_VERSION = "1.15.2"
# What `npm install` is asked for. The overrides are the versions Portkey's own
# package-lock.json resolves at 1.15.2 (what its Docker image runs): the package alone
# takes the newest hono and @hono/node-server that its ranges allow, and with
# @hono/node-server 1.19.19 every streamed answer fails ("TypeError: immutable", a 500).
PORTKEY_PACKAGE = {
    "private": True,
    "dependencies": {"@portkey-ai/gateway": PORTKEY_VERSION},
    "overrides": {"hono": "4.9.7", "@hono/node-server": "1.13.5"},
}
PORTKEY_ENTRY = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/build/start-server.js"
INSTALL_TIMEOUT = 480
_QUIET = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def find_tool(name: str) -> str | None:
    """nginx lives in /usr/sbin, which is not on every user's PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def ensure_apt_tools() -> dict[str, str]:
    """Paths of nginx and wrk, installing the missing ones with apt-get."""
    missing = [name for name in APT_TOOLS if not find_tool(name)]
    if missing:
        print(f"Installing {' '.join(missing)} with apt-get ...", flush=True)
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        # RUNLEVEL=1 keeps the package's post-install from starting a system nginx on :80.
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
        apt = [*sudo, "apt-get", "-qq"]
        subprocess.run([*apt, "update"], env=env, check=True, timeout=INSTALL_TIMEOUT)
        install = [*apt, "install", "-y", "--no-install-recommends", *missing]
        subprocess.run(install, env=env, check=True, timeout=INSTALL_TIMEOUT)
    paths = {name: find_tool(name) for name in APT_TOOLS}
    absent = [name for name, path in paths.items() if not path]
    if absent:
        raise RuntimeError(f"{', '.join(absent)} still missing after apt-get install")
    return paths


def ensure_litellm() -> tuple[Path | None, str]:
    """(path of the `litellm` command, "") or (None, why it is not available)."""
    command = LITELLM_VENV / "bin" / "litellm"
    stamp = LITELLM_VENV / ".installed"
    if command.exists() and stamp.exists() and stamp.read_text() == LITELLM_SPEC:
        return command, ""
    try:
        _install_litellm()
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install {LITELLM_SPEC}: {exc}"
    stamp.write_text(LITELLM_SPEC)
    return command, ""


def _install_litellm() -> None:
    pip = [sys.executable, "-m", "pip"]
    print(f"Checking that PyPI serves {LITELLM_SPEC} ...", flush=True)
    subprocess.run([*pip, "index", "versions", "litellm"], check=True, timeout=60, **_QUIET)
    print(f"Installing {LITELLM_SPEC} into {LITELLM_VENV} (once) ...", flush=True)
    # A venv made from the project's interpreter is based on the same Python, not on .venv.
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(LITELLM_VENV)], check=True)
    venv_pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*venv_pip, "--upgrade", "pip"], check=True, timeout=INSTALL_TIMEOUT)
    subprocess.run([*venv_pip, LITELLM_SPEC], check=True, timeout=INSTALL_TIMEOUT)


def ensure_portkey() -> tuple[Path | None, str]:
    """(path of Portkey's start-server.js, "") or (None, why it is not available)."""
    stamp = PORTKEY_DIR / ".installed"
    wanted = json.dumps(PORTKEY_PACKAGE, sort_keys=True)
    if PORTKEY_ENTRY.exists() and stamp.exists() and stamp.read_text() == wanted:
        return PORTKEY_ENTRY, ""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        return None, "node and npm are needed for Portkey's gateway (Node.js 20 or later)"
    print(
        f"Installing @portkey-ai/gateway {PORTKEY_VERSION} into {PORTKEY_DIR} (once) ...",
        flush=True,
    )
    PORTKEY_DIR.mkdir(exist_ok=True)
    (PORTKEY_DIR / "package.json").write_text(json.dumps(PORTKEY_PACKAGE, indent=2) + "\n")
    # --ignore-scripts: its one install script runs patch-package, whose patches the
    # published package does not ship (they touch nothing on the measured path).
    install = [npm, "install", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        result = subprocess.run(
            install, cwd=PORTKEY_DIR, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"could not install @portkey-ai/gateway {PORTKEY_VERSION}: {exc}"
    if result.returncode:
        return None, f"npm install failed (exit {result.returncode}): {result.stderr[-500:]}"
    stamp.write_text(wanted)
    return PORTKEY_ENTRY, ""


def portkey_version() -> str:
    manifest = PORTKEY_DIR / "node_modules/@portkey-ai/gateway/package.json"
    return json.loads(manifest.read_text()).get("version", "unknown")


def package_version(python: Path | str, package: str) -> str:
    """Installed version of `package` as seen by the interpreter `python`."""
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=30)
    return result.stdout.strip() or "unknown"


def node_version() -> str:
    return tool_version([shutil.which("node") or "node", "--version"])


def tool_version(command: list[str]) -> str:
    """First line a tool prints about its version (nginx -v writes to stderr)."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    lines = (result.stdout + result.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"
