# syntax=docker/dockerfile:1
# The operator's image: `docker build -t <registry>/mysql-operator:0.1.0 .`
# (the tag is the version in pyproject.toml; the Helm chart's appVersion).
# The local cluster of this project has no registry and no Docker: there
# `make deploy` builds the equivalent image from Debian packages instead
# (localkube/operator_image.py).

FROM python:3.11-slim-bookworm AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mysql_operator ./mysql_operator
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir=/wheels .

FROM python:3.11-slim-bookworm
RUN groupadd --gid 10001 mysql-operator \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin mysql-operator
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --disable-pip-version-check --no-index \
      --find-links=/wheels mysql-operator
# The chart mounts the root filesystem read-only: nothing is compiled at run time.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["mysql-operator"]
CMD ["run", "--standalone", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
