# syntax=docker/dockerfile:1
# Sidekey: one static binary (`sidekey proxy`, `sidekey admin`, tools) on a
# distroless, non-root base. Build: `make image` (VERSION=… IMAGE=…).

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
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/sidekey ./cmd/sidekey

# static-debian12: CA roots, /etc/passwd with nonroot (65532), tzdata;
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="sidekey" \
      org.opencontainers.image.description="Keeps notification credentials out of templates: secret-injecting sidecar proxy and admin API" \
      org.opencontainers.image.source="https://github.com/sidekey/sidekey" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/sidekey /usr/local/bin/sidekey
USER 65532:65532
EXPOSE 8080 8081 9090 9091
ENTRYPOINT ["/usr/local/bin/sidekey"]
CMD ["--help"]
