# stampede in a container: the binary alone, run as a non-root user.
#   docker build --build-arg STAMPEDE_COMMIT=$(git rev-parse --short=7 HEAD) -t stampede .
#   docker run --rm stampede --version
# Multi-stage: cargo builds the release binary in the first stage; the second is a slim
# Debian with the CA certificates (for https targets) and the binary, nothing else.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The dependencies first, so a change to the sources does not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir -p src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo fetch --locked
COPY src ./src
COPY assets ./assets
# The commit `stampede --version` names (the build has no .git):
#   docker build --build-arg STAMPEDE_COMMIT=$(git rev-parse --short=7 HEAD) .
ARG STAMPEDE_COMMIT=unknown
RUN STAMPEDE_COMMIT=$STAMPEDE_COMMIT cargo build --release --locked \
    && strip target/release/stampede

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 stampede \
    && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin stampede
COPY --from=build /src/target/release/stampede /usr/local/bin/stampede
USER 10001:10001
ENTRYPOINT ["stampede"]
CMD ["--help"]
