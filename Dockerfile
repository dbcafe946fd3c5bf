# syntax=docker/dockerfile:1
# Sidekey: one static binary (`sidekey proxy`, `sidekey admin`, tools) on an
# empty base, non-root. This is for machines with a Docker engine
# (`make image-docker`); `make image` builds the same layout without one
# (internal/image): the binary, a CA bundle, /etc/passwd and /etc/group
# naming nonroot (65532), /tmp — no shell, no package manager.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# CGO_ENABLED=0: a static binary with Go's own DNS resolver, no libc needed.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -buildid= -X main.version=${VERSION}" \
      -o /out/sidekey ./cmd/sidekey
RUN mkdir -m 1777 /out/tmp

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
# The commit time (RFC 3339), as `make image` sets it.
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="sidekey" \
      org.opencontainers.image.description="Keeps notification credentials out of templates: secret-injecting sidecar proxy and admin API" \
      org.opencontainers.image.source="https://github.com/sidekey/sidekey" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
COPY internal/image/rootfs/etc/passwd internal/image/rootfs/etc/group /etc/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/tmp /tmp
COPY --from=build /out/sidekey /usr/local/bin/sidekey
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080 8081 9090 9091
ENTRYPOINT ["/usr/local/bin/sidekey"]
CMD ["--help"]
