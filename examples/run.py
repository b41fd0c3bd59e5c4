"""Start dgen-ping for development, as the original service's `python examples/run.py` did.

Equivalent to `make run` once the requirements are installed: writes `.env` from
`.env.example` when there is none, applies migrations, serves http://127.0.0.1:8001.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    env_file = ROOT / ".env"
    if not env_file.exists():
        shutil.copy(ROOT / ".env.example", env_file)
        print("Wrote .env from .env.example (development mode).")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], cwd=ROOT, check=True)
    port = os.environ.get("PORT", "8001")
    os.execv(sys.executable, [*manage, "runserver", f"127.0.0.1:{port}"])


if __name__ == "__main__":
    main()
