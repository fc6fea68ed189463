# Two images from one recipe, each a static binary (CGO_ENABLED=0: pure-Go SQLite) on distroless
# static, running as the nonroot user (65532), with the binary at /usr/local/bin/messenger-operator:
#   - the default (last) stage: the full binary (operator, gateway, instance, sandbox, kubectl);
#     `make docker-build`.
#   - target `instance`: the binary built with `-tags instanceonly` (instance and sandbox
#     commands only: no operator, gateway or kubectl plugin linked in, so an idle instance holds
#     less memory; docs/benchmarks.md, "Density"); `make docker-build-instance`. Point the
#     operator at it with --instance-image (chart value instanceImage); the pods call
#     `messenger-operator instance` either way.
# hack/image/image_test.go runs the same `go build` lines and checks that the results are static.
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/messenger-operator/messenger-operator/cmd.Version=${VERSION}" -o /out/messenger-operator .
RUN CGO_ENABLED=0 go build -tags instanceonly -ldflags "-s -w -X github.com/messenger-operator/messenger-operator/cmd.Version=${VERSION}" -o /out/instance/messenger-operator .

FROM gcr.io/distroless/static-debian12:nonroot AS instance
COPY --from=build /out/instance/messenger-operator /usr/local/bin/messenger-operator
USER 65532:65532
# Subcommands: instance, sandbox, version.
ENTRYPOINT ["messenger-operator"]
CMD ["version"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/messenger-operator /usr/local/bin/messenger-operator
USER 65532:65532
# Subcommands: operator, gateway, instance, sandbox, kubectl, version.
ENTRYPOINT ["messenger-operator"]
CMD ["version"]
