# syntax=docker/dockerfile:1
# onefile-sync: `uvicorn app.main:app` on port 8000 (see docs/service.md).
# Build: docker build -t onefile-sync:0.1.0 .
# Both stages use the same base tag, so the venv's interpreter symlink resolves in the final stage.

# ---- builder: resolve and install the package into a self-contained venv --------------------
FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"

WORKDIR /build
# Dependencies change less often than the code, but pip needs the package to resolve them;
# constraints.txt pins every version, so the build is reproducible either way.
COPY pyproject.toml constraints.txt ./
COPY app ./app
RUN pip install --no-cache-dir -c constraints.txt .

# ---- final: the interpreter, the venv and a non-root user; no compilers, no pip cache ----------
FROM python:3.11.14-slim-bookworm

LABEL org.opencontainers.image.title="onefile-sync" \
      org.opencontainers.image.description="Keeps PICSWeb and OneFile in step" \
      org.opencontainers.image.version="0.1.0"

# A fixed numeric UID/GID, so Kubernetes can check runAsNonRoot/runAsUser against it.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

ENV VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

COPY --from=builder /opt/venv /opt/venv

# The package lives in the venv's site-packages; nothing of the source tree is needed here.
WORKDIR /srv
USER 10001:10001
EXPOSE 8000

# urllib raises on any non-2xx (503 while the database is down), so the exit status follows /health.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# Exec form: uvicorn is PID 1 and receives SIGTERM itself. It then stops accepting, waits up to
# 25 s for requests in flight, and runs the lifespan shutdown (workers finish or release their jobs).
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "25", "--no-access-log"]
