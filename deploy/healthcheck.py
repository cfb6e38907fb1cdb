"""Docker HEALTHCHECK for every role of the image: exit 0 when the role's server answers.

The entrypoint writes the role to ``STUDENTOPS_ROLE_FILE`` (default /tmp/studentops-role).
Roles with an HTTP server are asked on loopback; the others (stream worker, flows worker,
Lambda) are healthy while their process runs, which Docker already watches.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

# role -> (port variable, default port, path); the paths are each server's own health route.
HTTP_CHECKS = {
    "api": ("API_PORT", "8000", "/health"),
    "tracking": ("STUDENTOPS_TRACKING_SERVER_PORT", "5000", "/health"),
    "prefect-server": ("PREFECT_PORT", "4200", "/api/health"),
    "dashboard": ("DASHBOARD_PORT", "8501", "/_stcore/health"),
}


def main() -> int:
    """Exit status for Docker: 0 when the role's health route answers 2xx within 4 s (or the role
    has no HTTP server), else 1 with the reason on stderr.
    """
    role_file = Path(os.environ.get("STUDENTOPS_ROLE_FILE", "/tmp/studentops-role"))
    try:
        role = role_file.read_text(encoding="utf-8").strip()
    except OSError:
        print(f"unhealthy: no role file at {role_file}", file=sys.stderr)
        return 1
    if role not in HTTP_CHECKS:
        return 0
    variable, default, path = HTTP_CHECKS[role]
    url = f"http://127.0.0.1:{os.environ.get(variable, default)}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            ok = 200 <= response.status < 300
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
