# The shoal node image: `docker compose up` (docker-compose.yml) starts one
# front and six stores from it. Two stages on one Debian 12 base: the first
# compiles shoald with the repository's Makefile, the second holds only
# the binary, the runtime libraries and curl (the health check's client).
#
# BASE is any Debian 12 image: debian:bookworm-slim from a registry, or
# one made here with debootstrap (t/compose/check.sh does that where no
# registry is reached).
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
# The libraries of the Makefile's DEB_PKGS (a layer of its own, before any
# source, so that it is built once).
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends gcc make libc6-dev \
      pkg-config libyaml-dev libxxhash-dev libjansson-dev libssl-dev \
      libisal-dev && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the daemon is built from: a change to the tests or the
# documents keeps the compiled layer.
COPY Makefile ./
COPY include include
COPY src src
RUN make -j2 build/shoald && strip build/shoald

FROM ${BASE}
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends libyaml-0-2 libxxhash0 \
      libjansson4 libssl3 libisal2 curl && \
    rm -rf /var/lib/apt/lists/* && \
    useradd --system --home-dir /var/lib/shoal --shell /usr/sbin/nologin \
      shoal && \
    install -d -o shoal -g shoal -m 750 /var/lib/shoal /var/lib/shoal/files \
      /run/shoal
COPY --from=build /src/build/shoald /usr/local/sbin/shoald
COPY conf/docker/entrypoint.sh /usr/local/sbin/shoal-entrypoint
USER shoal
# One volume a container: each store keeps its own files and state.
VOLUME /var/lib/shoal
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/_/health || exit 1
ENTRYPOINT ["/usr/local/sbin/shoal-entrypoint"]
