# luxlog in a container: supercronic runs the jobs of `luxlog crontab` as PID 1.
#
#   docker build -t lux-logger .
#   docker run --env-file .env -v ./logs:/app/logs lux-logger
#
# Builds on amd64 and arm64 (Raspberry Pi 3/4/5 with a 64-bit OS), with BuildKit or the
# legacy builder. Three stages, so the final image holds no build tools:
#   wheel        builds luxlog's wheel with a hash-locked setuptools
#   supercronic  downloads the pinned supercronic release and checks its SHA-1 sum
#   final        the locked dependencies, the wheel, supercronic, an unprivileged user

# Pinned base: Python 3.12 on Debian 13 (trixie), which ships tzdata and CA certificates.
# To freeze it completely, append the multi-arch index digest: `...-slim-trixie@sha256:…`.
# docker/prove passes a locally bootstrapped Debian image instead (see README, Docker).
ARG PYTHON_IMAGE=python:3.12.13-slim-trixie

FROM ${PYTHON_IMAGE} AS wheel
# The package index pip reads (PyPI); docker/prove points it at a local wheelhouse. The
# hashes of the locks are checked either way, so another index cannot change a file.
# Build arguments show in `docker history`: never put credentials into this URL.
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The build backend comes from its own hash-pinned lock (./dev lock); without build
# isolation pip uses exactly that setuptools instead of fetching an unpinned one.
COPY requirements-build.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY luxlog ./luxlog
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS supercronic
# Release assets and their SHA-1 sums as published in the release notes of
# https://github.com/aptible/supercronic/releases/tag/v0.2.33 (one binary per architecture).
ARG SUPERCRONIC_VERSION=v0.2.33
ARG SUPERCRONIC_SHA1SUM_AMD64=71b0d58cc53f6bd72cf2f293e09e294b79c666d8
ARG SUPERCRONIC_SHA1SUM_ARM64=e0f0c06ebc5627e43b25475711e694450489ab00
# Where each binary is downloaded from; docker/prove passes a stand-in's URL and sum.
ARG SUPERCRONIC_URL_AMD64=https://github.com/aptible/supercronic/releases/download/${SUPERCRONIC_VERSION}/supercronic-linux-amd64
ARG SUPERCRONIC_URL_ARM64=https://github.com/aptible/supercronic/releases/download/${SUPERCRONIC_VERSION}/supercronic-linux-arm64
# Set by BuildKit (and buildx for multi-arch builds); the legacy builder leaves it empty,
# then the architecture of the build container - the target's - is used.
ARG TARGETARCH
# The slim image has no curl or wget: Python's urllib downloads, sha1sum verifies, and a
# wrong or missing sum fails the build.
RUN arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
    && case "$arch" in \
         amd64) url="$SUPERCRONIC_URL_AMD64" sum="$SUPERCRONIC_SHA1SUM_AMD64" ;; \
         arm64) url="$SUPERCRONIC_URL_ARM64" sum="$SUPERCRONIC_SHA1SUM_ARM64" ;; \
         *) echo "supercronic: no pinned checksum for architecture '$arch' (amd64, arm64)" >&2; exit 1 ;; \
       esac \
    && python -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$url" /supercronic \
    && echo "$sum  /supercronic" > /supercronic.sha1 \
    && sha1sum -c /supercronic.sha1 \
    && chmod 0755 /supercronic

FROM ${PYTHON_IMAGE}
ARG PIP_INDEX_URL=https://pypi.org/simple
# LUXLOG_CONTAINER: here a .env of the reference logger's bare names (HOST, PORT, ...)
# works as it is (luxlog/bareenv.py); outside the image those names are ignored.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LUXLOG_DATA_DIR=/app/logs \
    LUXLOG_CONTAINER=1
# Dependencies exactly as locked (same versions and files on every architecture; wheels
# only, so nothing is compiled), then luxlog's own wheel - a regular install, not editable.
# pip compiles the .py files at install time; the polls then start from bytecode.
# requirements-web.lock adds the web extra (`luxlog serve`, the compose service `web`);
# nothing on the poll path imports it.
COPY requirements.lock requirements-web.lock /tmp/
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --require-hashes --only-binary=:all: -r /tmp/requirements.lock \
    && pip install --require-hashes --only-binary=:all: -r /tmp/requirements-web.lock \
    && pip install --no-deps --no-index /tmp/wheels/luxlog-*.whl \
    && rm -rf /tmp/requirements.lock /tmp/requirements-web.lock /tmp/wheels \
    && test -f /usr/share/zoneinfo/Europe/Berlin \
    && luxlog --help > /dev/null
COPY --from=supercronic /supercronic /usr/local/bin/supercronic
COPY docker/entrypoint.sh /usr/local/bin/luxlog-entrypoint
# Everything luxlog keeps lives under /app/logs (cache.sqlite3, spool/, locks/, csv/), so
# one volume keeps it all across restarts and upgrades. A numeric user, so Kubernetes'
# runAsNonRoot and `--user` work; it owns /app/logs for the case of a named volume.
RUN chmod 0755 /usr/local/bin/luxlog-entrypoint \
    && mkdir -p /app/logs \
    && chown 10001:10001 /app/logs
WORKDIR /app
VOLUME ["/app/logs"]
USER 10001:10001
# Exit 6 (unhealthy) when polls stopped, the spool is not being flushed, CSVs are late or
# the disk is filling; `docker ps` shows it. It reads files only, so it is cheap.
HEALTHCHECK --interval=1m --timeout=30s --start-period=2m --retries=3 \
    CMD ["luxlog", "status", "--check"]
# docker stop sends SIGTERM to supercronic (PID 1), which stops starting jobs and waits
# for the running ones; it does not forward the signal. After the grace period (compose:
# stop_grace_period) Docker sends SIGKILL; every job is safe to kill at any moment.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/luxlog-entrypoint"]
# No arguments: the scheduler. With arguments the entrypoint runs them instead, e.g.
# `docker run --rm --env-file .env -v ./logs:/app/logs lux-logger luxlog status`.
CMD []
