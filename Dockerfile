# lakestory in a container: `lakestory run` of the project mounted at /project.
#
#   docker build -t lakestory .
#   docker run --rm -v "$PWD:/project" -e DB_PASSWORD lakestory            # lakestory.yaml
#   docker run --rm -v "$PWD:/project" lakestory jobs.yaml --env prod --pipeline gold
#
# Secrets are never baked in: pass them at run time (`-e NAME`, `--env-file`, a key vault
# the project names), as docs/production.md says.
#
# The base image is pinned by its exact version and by digest (the multi-platform index of
# python:3.11.14-slim-bookworm). To move to a newer patch release, change the tag and take
# its digest from the registry:
#   docker buildx imagetools inspect python:3.11.X-slim-bookworm --format '{{json .Manifest.Digest}}'
# (or `docker pull python:3.11.X-slim-bookworm` and read the "Digest:" line).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# --- build: the lakestory wheel from this source tree ---------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- runtime -------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
# Extras for the stores, databases and observers a production project uses. The spark
# engine needs Java and a cluster: run it on Databricks (lakestory export databricks).
ARG LAKESTORY_EXTRAS=aws,azure,postgres,lineage,metrics
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LAKESTORY_LOG_FORMAT=json
COPY --from=build /dist /tmp/dist
RUN wheel="$(ls /tmp/dist/lakestory-*.whl)" \
    && python -m pip install --no-cache-dir "${wheel}[${LAKESTORY_EXTRAS}]" \
    && rm -rf /tmp/dist \
    && groupadd --system --gid 10001 lakestory \
    && useradd --system --uid 10001 --gid lakestory --create-home --home-dir /home/lakestory lakestory \
    && mkdir -p /project \
    && chown lakestory:lakestory /project

# Unprivileged from here on (numeric, so `runAsNonRoot` can verify it).
USER 10001:10001
WORKDIR /project

# Healthy while the package imports and the mounted project loads and validates (schema,
# references, SQL, functions, its variables and secrets set); validate has no side effects.
# A project file of another name: -e LAKESTORY_PROJECT=jobs.yaml. Docker wants exit 1.
ENV LAKESTORY_PROJECT=lakestory.yaml
HEALTHCHECK --interval=5m --timeout=60s --start-period=30s --retries=2 \
    CMD lakestory validate "$LAKESTORY_PROJECT" > /dev/null || exit 1

ENTRYPOINT ["lakestory", "run"]
CMD ["lakestory.yaml"]
