#!/usr/bin/env bash
# Builds target/release/git-webhook as it is shipped (the Debian package and the benchmarks use
# this).
# On Linux with glibc it is linked statically, as a position-independent executable with packed
# relative relocations: a hook then starts without loading a shared library or reading a large
# relocation table, which is about half a millisecond of every push. Elsewhere, a plain
# `cargo build --release`. Arguments go to cargo (`--quiet`, say).
#
#   bash packaging/build.sh && install -m 755 target/release/git-webhook /usr/local/bin/
#
# A static glibc still reads /etc/hosts and DNS for names and /etc/passwd for users; a host whose
# /etc/nsswitch.conf relies on other modules (LDAP users, say) is better served by the dynamic
# build `cargo build --release` gives.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case $host in
  *-linux-gnu)
    cargo rustc --release --locked --bin git-webhook "$@" -- \
      -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs
    ;;
  *) cargo build --release --locked "$@" ;;
esac
