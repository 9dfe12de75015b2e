# syntax=docker/dockerfile:1

# ---- build ------------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /app
# usearch (the vector index) is C++ built by cxx-build: it needs a C++17 compiler.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first, against stub sources, so code changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY entity/Cargo.toml entity/
COPY migration/Cargo.toml migration/
COPY minilm/Cargo.toml minilm/
RUN mkdir -p src entity/src migration/src minilm/src \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs entity/src/lib.rs migration/src/lib.rs minilm/src/lib.rs \
 && echo 'fn main() {}' > migration/src/main.rs \
 && cargo build --release --locked --bin assistant \
 && rm -rf src entity/src migration/src minilm/src

COPY src src
COPY entity/src entity/src
COPY migration/src migration/src
COPY minilm/src minilm/src
# Make sure cargo sees the real sources as newer than the stubs.
RUN touch src/main.rs src/lib.rs entity/src/lib.rs migration/src/lib.rs minilm/src/lib.rs \
 && cargo build --release --locked --bin assistant \
 && ./target/release/assistant fetch-model /model

# ---- run --------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /app assistant \
 && install -d -o assistant -g assistant /app/data
COPY --from=build /app/target/release/assistant /usr/local/bin/assistant
# Outside DATA_DIR, so a volume mounted there does not hide it.
COPY --from=build /model /opt/models/all-MiniLM-L6-v2
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

WORKDIR /app
# No USER and no VOLUME: the entrypoint starts as root only to take ownership of DATA_DIR (Railway
# mounts volumes owned by root, and refuses images that declare a VOLUME), then runs the server as
# user 10001. PORT is honoured (Railway sets it); DATA_DIR holds the SQLite file and the index
# files: attach a volume there for the embedded mode (with PostgreSQL none is needed).
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/app/data \
    EMBEDDING_MODEL_DIR=/opt/models/all-MiniLM-L6-v2 \
    LOG_FORMAT=json
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["assistant"]
