# syntax=docker/dockerfile:1
# tgpipe: one image for every service; the command picks it.
#   docker build -t tgpipe .
#   docker run --rm -e TGPIPE_DATABASE_URL=... -e TGPIPE_KAFKA_BOOTSTRAP_SERVERS=... tgpipe writer

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: a virtualenv with tgpipe and its dependencies ---------------------------
# Every compiled dependency ships manylinux wheels (x86_64 and aarch64), so no compiler.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tgpipe ./tgpipe
COPY schemas ./schemas
COPY services ./services
RUN pip install . \
 && tgpipe --help >/dev/null

# ---- runtime ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TGPIPE_HOME=/var/lib/tgpipe \
    TGPIPE_MEDIA_ROOT=/var/lib/tgpipe/media \
    TGPIPE_METRICS_HOST=0.0.0.0
# TGPIPE_METRICS_HOST: in a container the probes and Prometheus come from outside it (tgpipe's
# default, 127.0.0.1, is for a process on a host); the port stays off until TGPIPE_METRICS_PORT.
RUN groupadd --system --gid 10001 tgpipe \
 && useradd --system --uid 10001 --gid tgpipe --home-dir /var/lib/tgpipe --no-create-home \
        --shell /usr/sbin/nologin tgpipe \
 && mkdir -p /var/lib/tgpipe/media /var/lib/tgpipe/thumbnails \
 && chown -R tgpipe:tgpipe /var/lib/tgpipe
COPY --from=builder /opt/venv /opt/venv
# The media store. A new named volume mounted here starts owned by tgpipe (copied from
# this directory); a bind mount must be writable by uid 10001.
VOLUME ["/var/lib/tgpipe/media"]
WORKDIR /var/lib/tgpipe
USER 10001:10001
ENTRYPOINT ["tgpipe"]
CMD ["--help"]
