# ferry's container image: a static binary on distroless, run as a non-root
# user. compose.yaml builds and runs it; by hand:
#   docker build -t ferry:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker run --rm -v "$PWD/testdata:/etc/ferry:ro" ferry:dev serve -c /etc/ferry/ferry.compose.yaml

# Build stage: the Go toolchain compiles a static binary (no cgo), and is
# left behind.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/ferry ./cmd/ferry

# Run stage: no shell and no package manager; distroless brings the CA
# certificates (TLS to Kafka, Redis, a JWKS URL) and time zone data.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ferry /usr/local/bin/ferry
# nonroot: uid and gid 65532.
USER 65532:65532
EXPOSE 8080
# The image has no curl: ferry asks its own /readyz.
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 CMD ["/usr/local/bin/ferry", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/ferry"]
CMD ["serve", "-c", "/etc/ferry/ferry.yaml"]
