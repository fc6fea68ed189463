// Package image checks the container image recipe without a Docker engine: the Dockerfile's own
// `go build` line gives a static binary (no ELF interpreter, no dynamic section), the final stage
// is distroless static running as nonroot, and .dockerignore keeps every source the build needs.
package image
