# syntax=docker/dockerfile:1
# Ironlog container images.
#
#   docker build --target broker -t ironlog .        (podman: add --format docker for the HEALTHCHECK)
#   docker run -p 9092:9092 ironlog                  a single node on localhost:9092
#
# Targets:
#   broker    the broker, `ironlog broker` (the default: the last stage)
#   operator  the Kubernetes operator, `ironlog-operator run` (the Helm chart's image):
#               docker build --target operator -t ironlog-operator .
#             Built in a stage of its own (`build-operator`), so building the broker image
#             does not compile the operator and its Kubernetes client; keep `broker` the
#             last stage.
#
# Settings come from the environment, one variable per setting, named as Kafka's image
# names them: IRONLOG_ + the key upper-cased, `.` written `_`, `_` written `__`, `-`
# written `___` (IRONLOG_LOG_RETENTION_MS=60000 sets log.retention.ms). Arguments after the
# image name go to `ironlog broker` and win: `docker run ironlog --override node.id=2`.
#
# Crates are fetched from crates.io (cached between builds). To build without network,
# hand the build a Cargo registry directory holding every crate Cargo.lock names (a
# CARGO_HOME's `registry/`, e.g. after `cargo build` there):
#   --build-context cargo-registry=$HOME/.cargo/registry --network none

ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# Empty unless `--build-context cargo-registry=DIR` replaces it (offline builds).
FROM scratch AS cargo-registry

# ----------------------------------------------------------------------------- source
FROM ${RUST_IMAGE} AS source
# The context is what the workspace build reads and nothing else (.dockerignore lets in
# only the manifests, broker/ without its tests, crates/, bench/ and operator/ without
# its tests: every workspace
# member must be there for cargo to read the workspace).
COPY . /src/

# ------------------------------------------------------------------------------ build
FROM source AS build
# The target dir is a cache mount: a rebuild after a source change compiles only the
# workspace crates. The binary is copied out of it, into the layer.
RUN --mount=type=cache,id=ironlog-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=ironlog-cargo-target,target=/src/target,sharing=locked \
    --mount=type=bind,from=cargo-registry,target=/offline-registry \
    set -eu; \
    cd /src; \
    # The target cache is shared by every build on this machine, other checkouts' included, \
    # and cargo decides freshness by mtime: an artifact built later from another checkout \
    # would pass for this one's. Sources newer than any cached artifact make the workspace \
    # crates rebuild (the dependencies stay cached). \
    find broker crates bench operator -type f -exec touch {} +; \
    if [ -d /offline-registry/index ]; then \
        export CARGO_HOME=/tmp/cargo-offline CARGO_NET_OFFLINE=true; \
        mkdir -p "$CARGO_HOME"; \
        ln -s /offline-registry "$CARGO_HOME/registry"; \
    fi; \
    cargo build --release --locked -p ironlog --bin ironlog; \
    install -D -m 0755 target/release/ironlog /out/ironlog

# ---------------------------------------------------------------------------- runtime
# Debian slim: glibc and libgcc_s, all the binary links (ldd); a shell for the
# HEALTHCHECK. No init process: ironlog handles SIGTERM and SIGINT itself and starts no
# children to reap (`docker run --init` adds one where wanted).
FROM ${RUNTIME_IMAGE} AS runtime
# Fixed ids (Kafka's image uses 1000 too), so a volume's ownership survives image
# upgrades and a Kubernetes securityContext can name them.
RUN groupadd --gid 1000 ironlog \
    && useradd --uid 1000 --gid 1000 --home-dir /var/lib/ironlog --no-create-home \
        --shell /usr/sbin/nologin ironlog \
    && install -d -o 1000 -g 1000 -m 0750 /var/lib/ironlog
# CA certificates for TLS to other services, from the build image (no network needed).
COPY --from=source /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt

# --------------------------------------------------------------------- build-operator
# As `build`, for the operator's binary (same cache mounts: one target dir, so the
# dependencies both binaries share compile once).
FROM source AS build-operator
RUN --mount=type=cache,id=ironlog-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=ironlog-cargo-target,target=/src/target,sharing=locked \
    --mount=type=bind,from=cargo-registry,target=/offline-registry \
    set -eu; \
    cd /src; \
    find broker crates bench operator -type f -exec touch {} +; \
    if [ -d /offline-registry/index ]; then \
        export CARGO_HOME=/tmp/cargo-offline CARGO_NET_OFFLINE=true; \
        mkdir -p "$CARGO_HOME"; \
        ln -s /offline-registry "$CARGO_HOME/registry"; \
    fi; \
    cargo build --release --locked -p ironlog-operator --bin ironlog-operator; \
    install -D -m 0755 target/release/ironlog-operator /out/ironlog-operator

# --------------------------------------------------------------------------- operator
# The operator needs no volume, no shell and no writable file system (the Helm chart
# mounts the root read-only): it talks to the API server with the pod's service account
# and serves /metrics and /health on 8080.
FROM runtime AS operator
COPY --from=build-operator /out/ironlog-operator /usr/local/bin/ironlog-operator
EXPOSE 8080
USER 1000:1000
# SIGTERM stops the controllers after the reconciles in flight.
STOPSIGNAL SIGTERM
ENTRYPOINT ["ironlog-operator"]
CMD ["run"]

# ----------------------------------------------------------------------------- broker
FROM runtime AS broker
COPY --from=build /out/ironlog /usr/local/bin/ironlog
# A single node reachable as localhost:9092 from the host with `-p 9092:9092`; set
# IRONLOG_ADVERTISED_LISTENERS to the name clients reach the container by.
ENV IRONLOG_LOG_DIRS=/var/lib/ironlog \
    IRONLOG_LISTENERS=PLAINTEXT://0.0.0.0:9092 \
    IRONLOG_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092
VOLUME ["/var/lib/ironlog"]
# 9644: the admin listener (/metrics, /health/live, /health/ready, /loggers).
EXPOSE 9092 9644
USER 1000:1000
WORKDIR /var/lib/ironlog
# The broker shuts down cleanly on SIGTERM (flushes, checkpoints, clean-shutdown marker):
# give it more than docker's 10 s default (`docker stop -t`, compose stop_grace_period).
STOPSIGNAL SIGTERM
# Ready = registered and unfenced, metadata caught up, listeners serving, log dirs online:
# `ironlog healthcheck` asks /health/ready on the admin listener the same IRONLOG_*
# settings configure. (In a cluster a node becomes ready once a quorum has formed.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["ironlog", "healthcheck"]
ENTRYPOINT ["ironlog", "broker"]
