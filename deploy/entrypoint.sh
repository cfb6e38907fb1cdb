#!/bin/sh
# One image, every role: `docker run studentops <role> [extra arguments]` (docs/deploy.md).
# Roles read STUDENTOPS_* settings from the environment; the variables below are the few
# start options that are not settings. Each role `exec`s, so signals reach the process.
set -eu

ROLES="api stream tracking lambda prefect-server flows dashboard"
role="${1:-}"
if [ "$#" -gt 0 ]; then shift; fi

bind_host="${BIND_HOST:-0.0.0.0}"
# Health checks find the role here (HEALTHCHECK runs outside this process's environment).
printf '%s\n' "$role" > "${STUDENTOPS_ROLE_FILE:-/tmp/studentops-role}" 2>/dev/null || true

needs_command() {
  # Roles built on other parts fail with one clear line when this build lacks the command.
  if ! studentops "$1" --help >/dev/null 2>&1; then
    echo "error: role '$role' needs 'studentops $1', which this build does not have" >&2
    exit 2
  fi
}

case "$role" in
  api)
    exec studentops serve --host "$bind_host" --port "${API_PORT:-8000}" \
      --workers "${API_WORKERS:-2}" "$@" ;;
  stream)
    : "${STREAM_SOURCE:?set STREAM_SOURCE (redis://host:port/db/stream or kinesis://name)}"
    : "${STREAM_SINK:?set STREAM_SINK (same URL forms)}"
    exec studentops stream --source "$STREAM_SOURCE" --sink "$STREAM_SINK" "$@" ;;
  tracking)
    exec studentops tracking-server "$@" ;;
  lambda)
    # AWS Lambda's runtime interface client; Lambda sets AWS_LAMBDA_RUNTIME_API.
    exec python -m awslambdaric "${LAMBDA_HANDLER:-studentops.streaming.lambda_handler.handler}" ;;
  prefect-server)
    exec prefect server start --host "$bind_host" --port "${PREFECT_PORT:-4200}" "$@" ;;
  flows)
    needs_command flows
    exec studentops flows serve "$@" ;;
  dashboard)
    needs_command dashboard
    exec studentops dashboard --host "$bind_host" --port "${DASHBOARD_PORT:-8501}" "$@" ;;
  "")
    echo "error: no role given; one of: $ROLES" >&2
    exit 2 ;;
  *)
    echo "error: unknown role '$role'; one of: $ROLES" >&2
    exit 2 ;;
esac
