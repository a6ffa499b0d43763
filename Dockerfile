# boardpack in a container: the binary plus the project (pipelines, SQL, templates, configuration), run as
# a non-root user, with the scheduler as the default command.
#
# Not built by CI (no Docker engine runs there): its build steps are kept the same as the ones `.ci/run`
# proves — the same toolchain (Rust 1.95), `--locked` against the committed Cargo.lock, and the same
# files (the whole checkout, as CI clones it, less what .dockerignore leaves out).
#
# Point it at an object store with BOARDPACK_STORE (s3://…, gs://…, az://…) and the cloud's own
# credential variables, e.g.
#   docker build -t boardpack .
#   docker run --rm -e BOARDPACK_STORE=s3://bucket/boardpack -e AWS_REGION=eu-west-2 boardpack
#                                                     (the long-lived scheduler; SIGTERM stops it cleanly)
#   docker run --rm … boardpack schedule --once      (one pass, for a CronJob: see deploy/)
#   docker run --rm … boardpack run board-pack --period 2022-04
# Without BOARDPACK_STORE the store is the folder /data/lake (mount a volume there).

# ---- build ----
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin boardpack

# ---- runtime ----
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 boardpack \
    && useradd --system --uid 10001 --gid boardpack --home-dir /project --shell /usr/sbin/nologin boardpack \
    && mkdir -p /data/lake \
    && chown -R boardpack:boardpack /data
COPY --from=build /src/target/release/boardpack /usr/local/bin/boardpack
COPY pipelines /project/pipelines
COPY sql /project/sql
COPY reports /project/reports
COPY config /project/config
WORKDIR /project
ENV BOARDPACK_PROJECT=/project \
    BOARDPACK_STORE=/data/lake
VOLUME ["/data"]
USER boardpack:boardpack
# The binary is PID 1 and handles SIGTERM itself: no new step starts, running steps get the grace period
# (scheduler.grace_period), the lease is released and the run recorded as interrupted.
STOPSIGNAL SIGTERM
ENTRYPOINT ["boardpack"]
CMD ["schedule"]
