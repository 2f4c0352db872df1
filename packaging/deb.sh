#!/usr/bin/env bash
# Builds the Debian package target/debian/git-webhook_<version>-1_<arch>.deb with cargo-deb
# (`cargo install cargo-deb`): the binary as packaging/build.sh makes it, every manual page,
# bash/zsh/fish completions, the systemd units in packaging/, and the example configuration and
# docs under /usr/share/doc/git-webhook/. The package's metadata is in Cargo.toml
# ([package.metadata.deb]).
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/build.sh
bin=target/release/git-webhook
out=target/packaging
rm -rf "$out"
mkdir -p "$out/man" "$out/completions"
"$bin" man --dir "$out/man"
gzip -9n "$out"/man/*.1
"$bin" completions bash >"$out/completions/git-webhook"
"$bin" completions zsh >"$out/completions/_git-webhook"
"$bin" completions fish >"$out/completions/git-webhook.fish"
cargo deb --no-build --locked "$@"
