#!/usr/bin/env bash
# Benchmark of path filters (not a test). Prints the hook's dry-run time for one update of the newest
# COMMITS (2,000) commits of a branch with an endpoint that has no filter, against the same update
# with `paths` that no file matches (every new commit's diff is read: the most a filter costs), with
# `paths` that the newest commit matches (the look stops there), and with `paths_ignore` of Markdown
# files; runs interleaved, median of RUNS (7), each as a ratio of the unfiltered run; and, for
# reference, git naming every file those commits changed.
#
#   bash bench/paths.sh --repo /path/to/a/real/repository.git   # any repository; only read
#   bash bench/paths.sh                                         # a generated one (5,000 files, 4,000 commits)
#   COMMITS=500 RUNS=3 bash bench/paths.sh --repo ...
set -euo pipefail
cd "$(dirname "$0")/.."
commits=${COMMITS:-2000}
runs=${RUNS:-7}
source_repo=
while [ $# -gt 0 ]; do
  case $1 in
    --repo) source_repo=$(cd "${2:?--repo needs a path}" && pwd); shift 2 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/paths.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash packaging/build.sh --quiet # As shipped.
bin=$PWD/target/release/git-webhook
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in $(compgen -e | grep '^GIT_'); do unset "$v"; done
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_WEBHOOK_GLOBAL_CONFIG=/nonexistent

if [ -z "$source_repo" ]; then
  source_repo=$tmp/source.git
  git init -q --bare -b main "$source_repo"
  echo "generating 4,000 commits over 5,000 files in 250 directories with git fast-import..."
  # Each commit changes 1-5 files, most under src/ (a Markdown file in one commit of ten).
  awk 'BEGIN {
    srand(11); t = 1600000000
    for (i = 1; i <= 4000; i++) {
      printf "commit refs/heads/main\ncommitter B <b@example.com> %d +0000\ndata 4\nwork\n", t + i * 60
      if (i == 1) { for (f = 0; f < 5000; f++) printf "M 644 inline src/d%d/f%d.rs\ndata 2\nx\n", f % 250, f }
      n = 1 + int(rand() * 5)
      for (k = 0; k < n; k++) {
        f = int(rand() * 5000)
        if (rand() < 0.1) printf "M 644 inline docs/d%d/f%d.md\ndata 3\n%d\n\n", f % 50, f, k
        else printf "M 644 inline src/d%d/f%d.rs\ndata %d\n%d\n\n", f % 250, f, length(i "") + 1, i
      }
      printf "\n"
    }
  }' | git -C "$source_repo" fast-import --quiet
fi

branch=$(git -C "$source_repo" symbolic-ref --short HEAD 2>/dev/null || echo main)
new=$(git -C "$source_repo" rev-parse "$branch")
old=$(git -C "$source_repo" rev-list --first-parent --skip="$commits" --max-count=1 "$branch")
[ -n "$old" ] || { echo "bench/paths.sh: $branch has fewer than $commits commits" >&2; exit 2; }
line="$old $new refs/heads/$branch"
brought=$(git -C "$source_repo" rev-list --count "$new" "^$old")
files=$(git -C "$source_repo" ls-tree -r --name-only "$new" | wc -l)
# A path the newest commit changed, for the filter that stops at once.
first=$(git -C "$source_repo" diff-tree --no-commit-id --name-only -r "$new" | head -1)
echo "update of $brought commits ($branch, $files files at its tip)"

conf() { # NAME EXTRA-KEYS
  printf '[project]\nweb_url = "https://git.example.com/acme/demo"\n\n[[endpoint]]\nurl = "http://127.0.0.1:9/hook"\n%s\n' "$2" > "$tmp/$1.toml"
}
conf none ''
conf nothing 'paths = ["no/such/dir/**"]'
conf newest "paths = [\"$first\"]"
conf ignore 'paths_ignore = ["**/*.md"]'

now() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }
run() { # CONFIG -> microseconds
  local t0 t1
  t0=$(now)
  printf '%s\n' "$line" | GIT_DIR=$source_repo GIT_WEBHOOK_CONFIG=$tmp/$1.toml GIT_WEBHOOK_DRY_RUN=1 "$bin" post-receive >/dev/null 2>&1
  t1=$(now)
  echo $((t1 - t0))
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# git itself naming every file the same commits changed: the reference for reading every diff.
git_names() {
  local t0 t1
  t0=$(now)
  git -C "$source_repo" rev-list "$new" "^$old" | git -C "$source_repo" diff-tree --stdin -r --name-only >/dev/null
  t1=$(now)
  echo $((t1 - t0))
}

declare -A times
for _ in $(seq "$runs"); do
  for c in none nothing newest ignore; do times[$c]+="$(run "$c") "; done
  times[git]+="$(git_names) "
done
base=$(median ${times[none]})
printf '| %-44s | %9s | %5s |\n' "endpoint (median of $runs, interleaved)" "dry-run" "ratio"
printf '|%s|%s|%s|\n' "----------------------------------------------" "-----------" "-------"
for c in none nothing newest ignore; do
  m=$(median ${times[$c]})
  case $c in
    none) what="no path filter" ;;
    nothing) what="paths that no file matches (every diff)" ;;
    newest) what="paths the newest commit matches" ;;
    ignore) what='paths_ignore = ["**/*.md"]' ;;
  esac
  printf '| %-44s | %6.1f ms | %5.2f |\n' "$what" "$(awk -v m="$m" 'BEGIN { print m / 1000 }')" "$(awk -v a="$m" -v b="$base" 'BEGIN { print a / b }')"
done
g=$(median ${times[git]})
echo "reference: git rev-list | git diff-tree --stdin -r --name-only of the same commits: $(awk -v m="$g" 'BEGIN { printf "%.1f", m / 1000 }') ms"
