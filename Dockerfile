# Placeholder until the container issue lands: installs luxlog and runs one poll.
# The real image (pinned base, hash-locked dependencies, supercronic, HEALTHCHECK) is
# tracked in the container issue.
FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY luxlog ./luxlog
RUN pip install --no-cache-dir .
USER 10001
ENTRYPOINT ["luxlog"]
CMD ["--help"]
