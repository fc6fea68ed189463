# One image for the operator, the instance server and the sandbox: a static binary
# (CGO_ENABLED=0: pure-Go SQLite) on distroless static, running as the nonroot user (65532).
# Build with `make docker-build`. hack/image/image_test.go runs the same `go build` line and
# checks that the result is static.
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/messenger-operator/messenger-operator/cmd.Version=${VERSION}" -o /out/messenger-operator .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/messenger-operator /usr/local/bin/messenger-operator
USER 65532:65532
# Subcommands: operator, instance, sandbox, kubectl, version.
ENTRYPOINT ["messenger-operator"]
CMD ["version"]
