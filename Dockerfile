# syntax=docker/dockerfile:1
# frontline's image: built from this tree in a Rust stage, run from a slim
# Debian holding only the libraries the binary links (OpenSSL, zlib), as a
# non-root user. See docs/deploy.md.
#
#   docker build -t frontline .
#   docker run --rm -p 9464:9464 -e KAFKA_BROKERS=kafka:9092 frontline
#
# The image reads /etc/frontline/frontline.toml (deploy/frontline.toml; mount
# your own over it, or point FRONTLINE_CONFIG elsewhere) and every
# FRONTLINE_<SECTION>__<KEY> variable (docs/operations.md, "Configuration").

# The toolchain the project is tested with; the locked dependencies need 1.88 or later.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# librdkafka is compiled by rdkafka-sys (make, a C compiler) and links the
# system's OpenSSL and zlib.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The release profile keeps line tables (debug = 1) for profiling; the image
# does not need them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin frontline \
 && install -D -m 0755 target/release/frontline /out/frontline \
 && strip --strip-debug /out/frontline

FROM debian:${DEBIAN_RELEASE}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 frontline \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin frontline
COPY --from=build /out/frontline /usr/local/bin/frontline
COPY deploy/frontline.toml /etc/frontline/frontline.toml
# State lives in Kafka (the changelog topic): the process writes nothing to
# disk, so the root filesystem can be mounted read-only.
USER 10001:10001
ENV FRONTLINE_CONFIG=/etc/frontline/frontline.toml \
    FRONTLINE_LOG_FORMAT=json
# /metrics, /healthz, /readyz
EXPOSE 9464
# SIGTERM: a final checkpoint per partition, then exit within 9 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["frontline", "run"]
