# runnerhub in a container: `runnerhub serve` on 0.0.0.0:8000 as an unprivileged user, its
# SQLite database (and TLS files) in the /data volume unless RUNNERHUB_DATABASE_URL points
# at PostgreSQL (compose.yaml). Build: docker build -t runnerhub .
ARG BASE=python:3.11-slim
FROM ${BASE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The wheel and every dependency's, so that the image below installs offline.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${BASE}
RUN useradd --system --uid 10001 --user-group --create-home runnerhub \
    && install -d -o runnerhub -g runnerhub /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
ENV RUNNERHUB_DATA_DIR=/data PYTHONUNBUFFERED=1
USER runnerhub
WORKDIR /data
VOLUME /data
EXPOSE 8000
# /healthz: the process answers (slim images have no curl; Python is there).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# Set RUNNERHUB_PUBLIC_URL to the URL clients use (until then URLs name 127.0.0.1).
CMD ["runnerhub", "serve", "--host", "0.0.0.0", "--port", "8000"]
