# Production image: web (gunicorn), worker and beat all run from it.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY mdph_bridge ./mdph_bridge
COPY workers ./workers
COPY schemas ./schemas
RUN pip install --no-cache-dir --constraint constraints.txt . \
    && useradd --create-home --uid 10001 mdph \
    && mkdir -p /var/lib/mdph_bridge && chown mdph /var/lib/mdph_bridge
USER mdph
ENV MDPH_BRIDGE_VAR_DIR=/var/lib/mdph_bridge
EXPOSE 8000
CMD ["gunicorn", "--config", "python:mdph_bridge.gunicorn_conf", "--bind", "0.0.0.0:8000", "mdph_bridge.wsgi:app"]
