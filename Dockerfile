# One image for every PriceAlert service; the command picks the service
# (see docker-compose.yml and infra/services.yaml).
FROM python:3.11-slim-bookworm AS runtime

# The PostgreSQL major version of the database (infra/data.yaml DbEngineVersion; a test
# keeps the two equal). pg_dump refuses a server newer than itself, and Debian's own
# postgresql-client follows the distribution (15 on bookworm), so the client comes from
# the PGDG repository at exactly this major version.
ARG PG_MAJOR=16

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# pg_dump/pg_restore for `pricealert backup`; curl for container health checks; a CJK
# fallback font for the price chart the notifier rasterises (Japanese dates, full-width yen).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg fonts-droid-fallback \
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

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY libs ./libs
COPY services ./services
# Without extras: the `local` extra's embedded PostgreSQL and Valkey are for development only.
RUN pip install . && useradd --system --uid 10001 pricealert
# compose's `backups` volume mounts here (file:///backups): writable by the service user.
RUN install -d -o pricealert -g pricealert /backups
COPY monitoring ./monitoring

USER pricealert
# 8000 the API, 8080 the web UI (`uvicorn services.web.main:app`), 91xx the workers' /metrics.
EXPOSE 8000 8080 9101 9102 9103
CMD ["python", "-m", "pricealert", "--help"]
