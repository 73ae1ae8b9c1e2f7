# Production image: web (gunicorn), worker and beat all run from it.

# Stage 1: the pages' design system (DSFR) and the opening script, from the locked npm packages,
# made as `make assets` does (tests/unit/test_docker.py keeps the two lists of copies the same).
FROM node:22-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
ARG DSFR=node_modules/@gouvfr/dsfr/dist
ARG ASSETS=/build/dsfr
RUN mkdir -p $ASSETS/utility/icons \
    && cp -R $DSFR/dsfr.min.css $DSFR/dsfr.module.min.js $DSFR/fonts $DSFR/icons $DSFR/favicon $ASSETS/ \
    && cp $DSFR/utility/icons/icons.min.css $ASSETS/utility/icons/
# The receivers' opening script, bundled by esbuild with its integrity, as `make assets` does.
COPY mdph_bridge/web/scripts ./mdph_bridge/web/scripts
RUN node mdph_bridge/web/scripts/build.mjs

# Stage 2: the service, with the assets in place before the package is installed.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY mdph_bridge ./mdph_bridge
COPY workers ./workers
COPY schemas ./schemas
COPY --from=assets /build/dsfr ./mdph_bridge/web/static/dsfr
COPY --from=assets /build/mdph_bridge/web/static/build ./mdph_bridge/web/static/build
RUN pip install --no-cache-dir --constraint constraints.txt . \
    && useradd --create-home --uid 10001 mdph \
    && mkdir -p /var/lib/mdph_bridge && chown mdph /var/lib/mdph_bridge
USER mdph
ENV MDPH_BRIDGE_VAR_DIR=/var/lib/mdph_bridge
EXPOSE 8000
CMD ["gunicorn", "--config", "python:mdph_bridge.gunicorn_conf", "--bind", "0.0.0.0:8000", "mdph_bridge.wsgi:app"]
