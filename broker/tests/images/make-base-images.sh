#!/usr/bin/env bash
# make-base-images.sh — make the base images the Dockerfile names, from Debian packages and
# this machine's Rust toolchain, on a machine that cannot pull images (no registry).
#
#   make-base-images.sh RUNTIME_IMAGE BUILDER_IMAGE
#   e.g. make-base-images.sh docker.io/library/debian:bookworm-slim \
#                            docker.io/library/rust:1.95-slim-bookworm
#
# RUNTIME_IMAGE (debian:<suite>-slim): `debootstrap --variant=minbase <suite>` without docs,
# man pages and apt lists, imported under that name.
# BUILDER_IMAGE (rust:<x.y>-slim-<suite>): the same plus ca-certificates, gcc and libc6-dev
# (what the official image installs), and the rustc, cargo and rust-std components of the
# host's Rust toolchain (which must be version x.y) laid out as the official image lays
# them out: RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo, cargo on PATH.
#
# Each image made here carries the label org.ironlog.stand-in=KEY, KEY being a hash of
# what it was made from (this script, the image name, the packages, the toolchain's
# `rustc -vV`). An image that exists under the name is kept when it has no such label (a
# real image, pulled or loaded) or the same KEY; otherwise it is made (again). Downloaded
# .deb files are kept in $CACHE_DIR/debs, so making an image again needs no download.
#
# env:
#   PODMAN          the podman command with its global options (default: podman)
#   CACHE_DIR       default /var/cache/ironlog-images
#   DEBIAN_MIRROR   default http://deb.debian.org/debian
# Needs root (debootstrap), debootstrap, tar, sha256sum, flock, rustc on PATH.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 RUNTIME_IMAGE BUILDER_IMAGE" >&2; exit 2; }
RUNTIME_IMAGE=$1
BUILDER_IMAGE=$2
read -r -a PODMAN_CMD <<<"${PODMAN:-podman}"
CACHE_DIR=${CACHE_DIR:-/var/cache/ironlog-images}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SCRIPT_HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-64)
LABEL=org.ironlog.stand-in

die() { echo "make-base-images: $*" >&2; exit 1; }
log() { echo "make-base-images: $*" >&2; }
podman() { command "${PODMAN_CMD[@]}" "$@"; }

mkdir -p "$CACHE_DIR/debs"
exec 9>"$CACHE_DIR/make-base-images.lock"
flock 9

# runtime: <registry>/library/debian:<suite>-slim
runtime_tag=${RUNTIME_IMAGE##*:}
case "$RUNTIME_IMAGE" in
  */debian:*-slim | debian:*-slim) runtime_suite=${runtime_tag%-slim} ;;
  *) die "the runtime image $RUNTIME_IMAGE is not debian:<suite>-slim: cannot make it here" ;;
esac
# builder: <registry>/library/rust:<x.y[.z]>-slim-<suite>
builder_tag=${BUILDER_IMAGE##*:}
case "$BUILDER_IMAGE" in
  */rust:*-slim-* | rust:*-slim-*)
    builder_rust=${builder_tag%%-slim-*}
    builder_suite=${builder_tag##*-slim-} ;;
  *) die "the builder image $BUILDER_IMAGE is not rust:<version>-slim-<suite>: cannot make it here" ;;
esac

# existing_key IMAGE: prints the stand-in label ("" = no label), or fails when absent
existing_key() {
  podman image exists "$1" || return 1
  podman image inspect --format "{{index .Labels \"$LABEL\"}}" "$1" | sed 's/^<no value>$//'
}

# needs IMAGE KEY: true when IMAGE must be made
needs() {
  local have
  if ! have=$(existing_key "$1"); then
    log "$1 is absent: making it"; return 0
  fi
  if [ -z "$have" ]; then
    log "$1 is present and not made here: using it"; return 1
  fi
  if [ "$have" = "$2" ]; then
    log "$1 is present (made here, key ${2:0:12}): using it"; return 1
  fi
  log "$1 was made here from other inputs (key ${have:0:12}, now ${2:0:12}): making it again"
  return 0
}

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

# debootstrap_rootfs DIR SUITE INCLUDE: a minbase rootfs without docs and apt lists
debootstrap_rootfs() {
  local dir=$1 suite=$2 include=$3
  command -v debootstrap >/dev/null || die "debootstrap is not installed: apt-get install debootstrap"
  log "debootstrap --variant=minbase ${include:+--include=$include }$suite (log: $dir.log)"
  debootstrap --variant=minbase ${include:+--include="$include"} --cache-dir="$CACHE_DIR/debs" \
    "$suite" "$dir" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; die "debootstrap $suite failed"; }
  rm -rf "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
    "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/log/*.log
}

# import DIR IMAGE KEY CHANGE...: the rootfs DIR as IMAGE, labelled with KEY; the image
# that had the name before is removed unless something still uses it
import_rootfs() {
  local dir=$1 image=$2 key=$3; shift 3
  local changes=(--change "LABEL $LABEL=$key")
  for c in "$@"; do changes+=(--change "$c"); done
  local previous
  previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
  tar -C "$dir" --numeric-owner -cf "$dir.tar" .
  podman import --quiet "${changes[@]}" "$dir.tar" "$image" >/dev/null
  rm -f "$dir.tar"
  if [ -n "$previous" ]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
  log "made $image"
}

runtime_key=$(printf '%s\n' "$SCRIPT_HASH" "$RUNTIME_IMAGE" "$runtime_suite" minbase | sha256sum | cut -c1-64)
if needs "$RUNTIME_IMAGE" "$runtime_key"; then
  WORK=$(mktemp -d "$CACHE_DIR/work.XXXXXX")
  debootstrap_rootfs "$WORK/runtime" "$runtime_suite" ""
  import_rootfs "$WORK/runtime" "$RUNTIME_IMAGE" "$runtime_key" 'CMD ["bash"]'
  rm -rf "$WORK"; WORK=""
fi

# The host toolchain must be the version the tag names (x.y matches x.y.z).
command -v rustc >/dev/null || die "rustc is not on PATH: the builder image is made from the host's toolchain"
host_version=$(rustc --version | cut -d' ' -f2)
case "$host_version." in
  "$builder_rust".*) ;;
  *) die "$BUILDER_IMAGE names Rust $builder_rust but the host's rustc is $host_version: install $builder_rust (rustup toolchain install $builder_rust) or change the Dockerfile's RUST_IMAGE" ;;
esac
sysroot=$(rustc --print sysroot)
host_triple=$(rustc -vV | sed -n 's/^host: //p')
builder_packages=ca-certificates,gcc,libc6-dev
builder_key=$(printf '%s\n' "$SCRIPT_HASH" "$BUILDER_IMAGE" "$builder_suite" minbase "$builder_packages" "$(rustc -vV)" | sha256sum | cut -c1-64)
if needs "$BUILDER_IMAGE" "$builder_key"; then
  for component in rustc cargo rust-std; do
    [ -f "$sysroot/lib/rustlib/manifest-$component-$host_triple" ] \
      || die "the toolchain at $sysroot has no $component component manifest (lib/rustlib/manifest-$component-$host_triple): a rustup toolchain is needed"
  done
  WORK=$(mktemp -d "$CACHE_DIR/work.XXXXXX")
  debootstrap_rootfs "$WORK/builder" "$builder_suite" "$builder_packages"
  toolchain=usr/local/rustup/toolchains/$host_version-$host_triple
  mkdir -p "$WORK/builder/$toolchain" "$WORK/builder/usr/local/cargo/bin"
  # The files of the rustc, cargo and rust-std components, as rustup's minimal profile.
  cat "$sysroot"/lib/rustlib/manifest-{rustc,cargo,rust-std}-"$host_triple" \
    | sed -n 's/^file://p' | grep -v '^share/' >"$WORK/files"
  tar -C "$sysroot" -cf - -T "$WORK/files" | tar -C "$WORK/builder/$toolchain" -xf -
  for bin in cargo rustc rustdoc; do
    [ -e "$WORK/builder/$toolchain/bin/$bin" ] \
      && ln -s "/$toolchain/bin/$bin" "$WORK/builder/usr/local/cargo/bin/$bin"
  done
  "$WORK/builder/$toolchain/bin/rustc" --version >/dev/null \
    || die "the copied rustc does not run"
  import_rootfs "$WORK/builder" "$BUILDER_IMAGE" "$builder_key" \
    "ENV RUSTUP_HOME=/usr/local/rustup" "ENV CARGO_HOME=/usr/local/cargo" \
    "ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV RUST_VERSION=$host_version" 'CMD ["bash"]'
  rm -rf "$WORK"; WORK=""
fi
