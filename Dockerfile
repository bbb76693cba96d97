# Vouch: one binary and nothing else. The configuration and the demo
# data are embedded in it; secrets come from the environment at run time.
#
#   docker build -t vouch .
#   docker run --rm -p 8080:8080 vouch            # demo mode
#   docker run --rm vouch vouch check-config      # describe the configuration

# ---- build ------------------------------------------------------------------
FROM rust:1-slim-bookworm AS builder
WORKDIR /app

# Dependencies first, against placeholder sources, so that editing the code
# does not rebuild every crate. (Add a placeholder here for any new target
# declared in Cargo.toml.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
    && echo 'fn main() {}' > src/main.rs \
    && echo 'fn main() {}' > benches/webhook_store.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# The real sources. Touch the crate roots so cargo rebuilds them rather than
# trusting the placeholders' timestamps.
COPY . .
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/vouch /usr/local/bin/vouch

# ---- run --------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 vouch \
    && useradd --system --uid 10001 --gid vouch --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin vouch \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=builder /usr/local/bin/vouch /usr/local/bin/vouch

# /data: the durable store's volume; the default DATABASE_URL,
# sqlite://vouch.db, is a file in the working directory. A volume whose root
# this user cannot write stops start-up with "Vouch cannot create files in
# /data"; the fix (docs/operations.md, "Deploy to Fly.io"): chown 10001:10001 /data.
USER 10001:10001
WORKDIR /data
ENV PORT=8080
EXPOSE 8080
# SIGTERM drains in-flight webhooks (up to 10 s) before exiting.
STOPSIGNAL SIGTERM
# No HEALTHCHECK: the image has no HTTP client, and Fly.io checks /healthz
# itself (see fly.toml). Elsewhere, probe GET /healthz from the orchestrator.
CMD ["vouch", "serve", "--log-format", "json"]
