#!/bin/sh
# luxlog's container entrypoint: check the settings, render the schedule, hand over to
# supercronic.
#
# The crontab is rendered here, at start, because it depends on settings (interval_sec,
# timezone) that arrive with `docker run --env-file`. A setting that would make the jobs
# fail stops the container at once, with the message, instead of failing every 30 s in
# the logs: exit 3 for an invalid configuration (or no host), 7 for a data folder that
# cannot be written. Then supercronic replaces this shell (exec), so it is PID 1: it gets
# docker stop's SIGTERM and reaps the jobs' processes.
#
# With arguments, runs them instead, for one-off commands in the same environment:
#   docker run --rm --env-file .env -v ./logs:/app/logs lux-logger luxlog poll --print
#
# For tests outside Docker: SUPERCRONIC names the program to exec, CRONTAB_FILE where the
# crontab goes. (Not LUXLOG_*: luxlog refuses LUXLOG_ variables it does not know.)
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

crontab_file=${CRONTAB_FILE:-${TMPDIR:-/tmp}/luxlog.crontab}

say() {
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) INFO entrypoint: $*"
}

version=$(python3 -c 'from importlib.metadata import version; print(version("luxlog"))' \
    2>/dev/null || echo "(version unknown)")
say "luxlog $version starting; settings:"
# Every setting with where it came from, into `docker logs`; exit 3 if any is invalid.
# Also the one line on the reference logger's bare names (HOST, ...) if the .env has them.
luxlog config || exit $?
# Exit 3 without a host or with an interval cron cannot keep; 7 if a folder is not
# writable. Written next to its final place and renamed, so supercronic never reads half.
luxlog crontab --check > "$crontab_file.new" || {
    status=$?
    rm -f "$crontab_file.new"
    if [ "$status" -eq 7 ]; then
        # Most likely a bind mount the Docker host created for root.
        say "hint: on the Docker host, run 'sudo chown -R $(id -u):$(id -g)' on the folder" \
            "mounted at ${LUXLOG_DATA_DIR:-the data folder}, or start the container with" \
            "--user set to that folder's owner (uid:gid)" >&2
    fi
    exit "$status"
}
mv "$crontab_file.new" "$crontab_file"
say "schedule ($crontab_file, times in UTC):"
grep -v '^#' "$crontab_file"
say "handing over to supercronic"
exec "${SUPERCRONIC:-supercronic}" -passthrough-logs -quiet "$crontab_file"
