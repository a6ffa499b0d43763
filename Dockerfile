# boardpack in a container: the binary plus the project (pipelines, SQL, templates, configuration).
# Point it at an object store with BOARDPACK_STORE (s3://…, gs://…, az://…) and the cloud's own
# credential variables, e.g.
#   docker run --rm -e BOARDPACK_STORE=s3://bucket/boardpack -e AWS_REGION=eu-west-2 boardpack \
#     run board-pack --period 2022-04
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin boardpack

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/boardpack /usr/local/bin/boardpack
COPY pipelines /project/pipelines
COPY sql /project/sql
COPY reports /project/reports
COPY config /project/config
WORKDIR /project
ENV BOARDPACK_PROJECT=/project
ENTRYPOINT ["boardpack"]
CMD ["--help"]
