# herald's container image: `docker build -t herald .` at the repository root
# (deploy/compose.yaml builds it). The binary serves on 0.0.0.0:8080 and
# takes any setting from HERALD_SECTION__KEY variables (config/default.toml).

# --- build -----------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /src

# Dependencies first, in their own layer, rebuilt only when Cargo.toml or
# Cargo.lock change: build them against placeholder targets (the manifest
# names the benches and the test binary, so those must exist too).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches tests/api \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && for f in benches/render.rs benches/fanout.rs tests/api/main.rs; do echo 'fn main() {}' > "$f"; done \
    && cargo build --release --locked \
    && rm -rf src

# What the binary compiles in: code, built-in configuration, migrations and
# the askama templates.
COPY src src
COPY config config
COPY migrations migrations
COPY templates templates
# COPY keeps the files' dates, which may be older than the placeholders'.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && cp target/release/herald /usr/local/bin/herald

# --- run -------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/herald --shell /usr/sbin/nologin herald \
    && install -d -o herald -g herald /var/lib/herald

COPY --from=builder /usr/local/bin/herald /usr/local/bin/herald
COPY LICENSE /usr/share/doc/herald/LICENSE
# The sample publication, so that the image serves something as it is;
# mount the newsroom's articles over it.
COPY feeds /srv/herald/feeds

ENV HERALD_SERVER__BIND=0.0.0.0:8080 \
    HERALD_DATABASE__DATA_DIR=/var/lib/herald \
    HERALD_CONTENT__DIR=/srv/herald/feeds \
    HERALD_LOG=info

USER herald
WORKDIR /var/lib/herald
EXPOSE 8080
ENTRYPOINT ["herald"]
CMD ["serve"]
