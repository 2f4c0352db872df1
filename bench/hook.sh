#!/usr/bin/env bash
# Benchmark of the hook's commit walk (not a test): builds a synthetic linear history with
# `git fast-import`, then prints the hook's dry-run time for a first push (0 -> head) as a ratio to
# `git rev-list --count head` on the same repository, its peak memory, and the time for a
# 500-commit update. Targets: ratio <= 1.0, peak RSS <= 64 MB, 500-commit update <= 50 ms.
#
#   bash bench/hook.sh            # 100,000 commits
#   COMMITS=20000 bash bench/hook.sh
set -euo pipefail
cd "$(dirname "$0")/.."
commits=${COMMITS:-100000}
runs=${RUNS:-9}

cargo build --release --quiet
bin=$PWD/target/release/git-webhook
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Nothing of the caller's git (an exported GIT_DIR, GIT_INDEX_FILE, ...) may reach the commands below.
for v in $(compgen -e | grep '^GIT_'); do unset "$v"; done
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_WEBHOOK_GLOBAL_CONFIG=/nonexistent
unset GIT_WEBHOOK_CONFIG GIT_WEBHOOK_DRY_RUN

repo=$tmp/bench.git
git init -q --bare -b main "$repo"
echo "building $commits commits with git fast-import..."
awk -v n="$commits" 'BEGIN {
  for (i = 1; i <= n; i++) {
    msg = "Commit number " i "\n"; body = "line " i "\n"
    printf "commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0200\ndata %d\n%s", 1600000000 + i * 60, length(msg), msg
    printf "M 100644 inline file%d.txt\ndata %d\n%s\n", i % 100, length(body), body
  }
}' | git -C "$repo" fast-import --quiet
cat > "$repo/webhook.toml" <<'TOML'
[project]
web_url = "https://git.example.com/bench/bench"
[[endpoint]]
url = "http://127.0.0.1:9/never-sent"
TOML

head=$(git -C "$repo" rev-parse main)
zero=0000000000000000000000000000000000000000
back500=$(git -C "$repo" rev-parse main~500)

now() { date +%s%N; }
# Wall time of one run of "$@", in microseconds.
time_us() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); echo $(( (t1 - t0) / 1000 )); }
median_ms() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'; }
hook() { printf '%s %s refs/heads/main\n' "$1" "$head" | GIT_DIR=$repo GIT_WEBHOOK_DRY_RUN=1 "$bin" post-receive; }

count=$(git -C "$repo" rev-list --count main)
# Baseline and hook alternate, so a busy moment on the machine hits both alike.
revlist=(); first=(); update=()
for _ in $(seq "$runs"); do
  revlist+=("$(time_us git -C "$repo" rev-list --count main)")
  first+=("$(time_us hook "$zero")")
  update+=("$(time_us hook "$back500")")
done
revlist_ms=$(median_ms "${revlist[@]}")
first_ms=$(median_ms "${first[@]}")
update_ms=$(median_ms "${update[@]}")
total=$(hook "$zero" 2>/dev/null | grep -o '"total_commits_count": [0-9]*' | grep -o '[0-9]*$')
if [ -x /usr/bin/time ]; then
  rss_kb=$( { printf '%s %s refs/heads/main\n' "$zero" "$head" | GIT_DIR=$repo GIT_WEBHOOK_DRY_RUN=1 /usr/bin/time -f '%M' "$bin" post-receive >/dev/null 2>"$tmp/err"; } ; tail -n 1 "$tmp/err")
  rss="$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f MB", k / 1024 }')"
else
  rss="n/a (GNU time not installed)"
fi

echo
echo "history: $count commits; the hook reported total_commits_count $total"
echo "git rev-list --count main:      ${revlist_ms} ms (median of $runs)"
echo "hook dry-run, first push:       ${first_ms} ms"
echo "ratio hook / rev-list:          $(awk -v a="$first_ms" -v b="$revlist_ms" 'BEGIN { printf "%.2f", a / b }')   (target <= 1.0)"
echo "hook peak RSS, first push:      $rss   (target <= 64 MB)"
echo "hook dry-run, 500-commit update: ${update_ms} ms   (target <= 50 ms)"
