# One image for every PriceAlert service; the command picks the service
# (see docker-compose.yml and infra/services.yaml).
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
# pg_dump/pg_restore for `pricealert backup`; curl for container health checks; a CJK
# fallback font for the price chart the notifier rasterises (Japanese dates, full-width yen).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client curl fonts-droid-fallback \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY libs ./libs
COPY services ./services
# Without extras: the `local` extra's embedded PostgreSQL and Valkey are for development only.
RUN pip install . && useradd --system --uid 10001 pricealert
COPY monitoring ./monitoring

USER pricealert
# 8000 the API, 8080 the web UI (`uvicorn services.web.main:app`), 91xx the workers' /metrics.
EXPOSE 8000 8080 9101 9102 9103
CMD ["python", "-m", "pricealert", "--help"]
