#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that envtest needs, from the Go module proxy, into a
# cache outside the repository keyed by version, and prints that directory (use it as
# KUBEBUILDER_ASSETS). Only the first run on a machine pays (~6 min on 2 cores); later runs find the
# binaries and return at once.
#
# The modules that pin the versions live in hack/tools/envtest/{kube-apiserver,etcd}: each is a
# separate Go module so that k8s.io/kubernetes and its replace lines never touch the operator's go.mod.
set -euo pipefail

KUBE_VERSION=1.37.2
ETCD_VERSION=3.7.0
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MESSENGER_ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/messenger-operator/envtest}"
dir="$cache/k8s-$KUBE_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$dir"

export GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0

# build NAME MODULE_DIR PACKAGE [LDFLAGS]: builds into a temporary file first so that an
# interrupted build never leaves a half-written binary in the cache.
build() {
	local name=$1 moddir=$2 pkg=$3 ldflags=${4:-}
	if [ -x "$dir/$name" ]; then
		return
	fi
	echo "envtest-bins: building $name into $dir (first run only)" >&2
	local tmp="$dir/.$name.tmp.$$"
	(cd "$root/hack/tools/envtest/$moddir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg") >&2
	mv -f "$tmp" "$dir/$name"
}

build etcd etcd go.etcd.io/etcd/server/v3
build kube-apiserver kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver \
	"-X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
echo "$dir"
