#!/usr/bin/env bash
# Benchmark of the hook (not a test). Prints, for each case, the hook's dry-run time against git
# answering the same question on the same repository, the ratio, the hook's peak memory, and whether
# both listed the same commits; then what a pusher feels: `git push` wall time with the hook installed
# against the same push without it, and the hook's own time against its start-up cost.
#
#   bash bench/hook.sh                          # a generated merge-heavy history (100,000 commits)
#   COMMITS=20000 RUNS=3 bash bench/hook.sh     # smaller, fewer runs
#   bash bench/hook.sh --repo /srv/git/big.git  # an existing repository (only read, never written)
#
# Cases, each with and without a commit-graph (`core.commitGraph = false` turns it off for both):
#   first push   0 -> main, nothing else in the repository  vs  git rev-list --count main
#   update       the newest ~2,000 commits of main          vs  git rev-list --count main ^old
#   update       3 new commits on main                      vs  git rev-list --count new ^main
#   new branch   3 new commits among every existing ref     vs  git rev-list new --not <other refs>
# Then the start-up breakdown (`--version`, an empty push, a 3-commit dry-run beside `git rev-list`
# and `git --version`), and PUSHES (default 15) interleaved 3-commit pushes with the hook installed
# (async delivery: a background deliverer started, or a running worker told), with an empty hook
# (`true`: what git spends on running any hook) and without, as a pusher feels them.
# Targets: ratio <= 1.0; peak RSS <= 64 MB (first push), <= 32 MB (3-commit update); a 3-commit
# dry-run <= 1.15x git rev-list; the hook adds <= 3 ms to a 3-commit push.
set -euo pipefail
cd "$(dirname "$0")/.."
commits=${COMMITS:-100000}
runs=${RUNS:-5}
pushes=${PUSHES:-15}
source_repo=
while [ $# -gt 0 ]; do
  case $1 in
    --repo) source_repo=$(cd "${2:?--repo needs a path}" && pwd); shift 2 ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/hook.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash packaging/build.sh --quiet # As shipped.
bin=$PWD/target/release/git-webhook
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Nothing of the caller's git (an exported GIT_DIR, GIT_INDEX_FILE, ...) may reach the commands below.
for v in $(compgen -e | grep '^GIT_'); do unset "$v"; done
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_WEBHOOK_GLOBAL_CONFIG=/nonexistent
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com

if [ -z "$source_repo" ]; then
  source_repo=$tmp/source.git
  git init -q --bare -b main "$source_repo"
  echo "building a merge-heavy history of $commits commits with git fast-import..."
  # A main line and up to 12 topic branches that grow and are merged back (about one commit in
  # seven is a merge), a third of the commits in the same second as the one before, a tag every
  # 200 commits and a branch every 250: deterministic (a fixed seed).
  awk -v n="$commits" 'BEGIN {
    srand(8); t = 1600000000; nb = 0
    for (i = 1; i <= n; i++) {
      t += (rand() < 0.3) ? 0 : int(rand() * 90)
      r = rand(); merge = ""
      if (i == 1) { parent = ""; onto = "main" }
      else if (nb > 0 && r < 0.15) { k = 1 + int(rand() * nb); parent = main; merge = tip[k]; onto = "main"; tip[k] = tip[nb]; name[k] = name[nb]; nb-- }
      else if (nb < 12 && r < 0.25) { nb++; name[nb] = "topic" i; tip[nb] = main; parent = main; onto = nb }
      else if (nb > 0 && r < 0.75) { k = 1 + int(rand() * nb); parent = tip[k]; onto = k }
      else { parent = main; onto = "main" }
      msg = "commit " i
      printf "commit refs/heads/scratch\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s\n", i, t, length(msg), msg
      if (parent != "") printf "from :%d\n", parent
      if (merge != "" && merge != parent) printf "merge :%d\n", merge
      printf "M 100644 inline f%d.txt\ndata %d\n%s\n\n", i % 500, length(msg) + 1, msg
      if (onto == "main") main = i; else tip[onto] = i
      if (i % 200 == 0) printf "reset refs/tags/v%d\nfrom :%d\n\n", i, main
      if (i % 250 == 0) printf "reset refs/heads/b%d\nfrom :%d\n\n", i, (nb > 0 ? tip[1] : main)
    }
    printf "reset refs/heads/main\nfrom :%d\n\n", main
    for (k = 1; k <= nb; k++) printf "reset refs/heads/%s\nfrom :%d\n\n", name[k], tip[k]
    printf "reset refs/heads/scratch\nfrom 0000000000000000000000000000000000000000\n\n"
  }' | git -C "$source_repo" fast-import --quiet
  git -C "$source_repo" update-ref -d refs/heads/scratch
fi
branch=$(git -C "$source_repo" symbolic-ref --short HEAD 2>/dev/null || echo main)
head=$(git -C "$source_repo" rev-parse --verify "refs/heads/$branch^{commit}")
zero=$(printf '%0*d' ${#head} 0)

# Repositories that borrow the source's objects (alternates) and never write into it: `first` holds
# one ref, `server` every ref of the source plus a branch of three new commits.
config='[project]
web_url = "https://git.example.com/bench/bench"
[delivery]
retry_schedule = []
[[endpoint]]
url = "http://127.0.0.1:9/never-sent"'
borrow() {
  git init -q --bare "$1"
  echo "$source_repo/objects" > "$1/objects/info/alternates"
  printf '%s\n' "$config" > "$1/webhook.toml"
}
borrow "$tmp/first.git"
git -C "$tmp/first.git" update-ref "refs/heads/$branch" "$head"
borrow "$tmp/server.git"
git -C "$source_repo" for-each-ref --format='create %(refname) %(objectname)' | git -C "$tmp/server.git" update-ref --stdin
git -C "$tmp/server.git" pack-refs --all # As `git gc` leaves a server's refs.
old=$(git -C "$source_repo" rev-list --max-count=2000 "$head" | tail -n 1)
new=$head
for i in 1 2 3; do
  new=$(git -C "$tmp/server.git" commit-tree -p "$new" -m "new $i" "$head^{tree}")
done
git -C "$tmp/server.git" update-ref refs/heads/bench-new-branch "$new"
refs=$(git -C "$tmp/server.git" for-each-ref | wc -l)
count=$(git -C "$source_repo" rev-list --count "$head")
merges=$(git -C "$source_repo" rev-list --count --merges "$head")
echo "history: $count commits ($merges merges) on $branch, $refs refs"

now() { local t=${EPOCHREALTIME/[.,]/}; echo "${t}000"; }
# Wall time of one run of "$@", in microseconds.
time_us() { local t0 t1; t0=$(now); "$@" >/dev/null 2>&1; t1=$(now); echo $(( (t1 - t0) / 1000 )); }
median_ms() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f", a[int((NR + 1) / 2)] / 1000 }'; }
# The hook's dry-run in repository $1 for the update line $2, given on stdin as a here-string: a
# pipe from printf would time a second process of the shell's with it (git's runs are one process).
hook() { GIT_DIR=$1 GIT_WEBHOOK_DRY_RUN=1 "$bin" post-receive <<<"$2"; }
peak_rss() {
  if [ -x /usr/bin/time ]; then
    printf '%s\n' "$2" | GIT_DIR=$1 GIT_WEBHOOK_DRY_RUN=1 /usr/bin/time -f '%M' "$bin" post-receive >/dev/null 2>"$tmp/time"
    awk 'END { printf "%.1f MB", $1 / 1024 }' "$tmp/time"
  else
    echo "n/a"
  fi
}
# What the hook listed (newest 20, oldest first, and the total) against git's answer.
same() {
  local listed total expected
  listed=$(hook "$1" "$2" 2>/dev/null | grep -oE '"id": "[0-9a-f]{40,64}"' | grep -oE '[0-9a-f]{40,64}' | tr '\n' ' ')
  total=$(hook "$1" "$2" 2>/dev/null | grep -oE '"total_commits_count": [0-9]+' | grep -oE '[0-9]+$')
  expected=$(git -C "$1" rev-list --max-count=20 "${@:3}" | tac | tr '\n' ' ')
  if [ "$listed" = "$expected" ] && [ "$total" = "$(git -C "$1" rev-list --count "${@:3}")" ]; then echo yes; else echo no; fi
}
# case NAME REPO LINE GIT-REV-LIST-ARGUMENTS...
row() {
  local name=$1 repo=$2 line=$3; shift 3
  local g=() h=()
  for _ in $(seq "$runs"); do
    g+=("$(time_us git -C "$repo" rev-list --count "$@")")
    h+=("$(time_us hook "$repo" "$line")")
  done
  local gm hm
  gm=$(median_ms "${g[@]}"); hm=$(median_ms "${h[@]}")
  printf '| %-36s | %9s | %9s | %5s | %9s | %4s |\n' "$name" "$hm ms" "$gm ms" \
    "$(awk -v a="$hm" -v b="$gm" 'BEGIN { printf "%.2f", a / b }')" "$(peak_rss "$repo" "$line")" "$(same "$repo" "$line" "$@")"
}
cases() {
  row "first push, $1" "$tmp/first.git" "$zero $head refs/heads/$branch" "$head"
  row "update ($(git -C "$tmp/server.git" rev-list --count "$head" "^$old") commits), $1" \
    "$tmp/server.git" "$old $head refs/heads/$branch" "$head" "^$old"
  row "update (3 commits), $1" "$tmp/server.git" "$head $new refs/heads/$branch" "$new" "^$head"
  row "new branch (3 commits), $1" "$tmp/server.git" "$zero $new refs/heads/bench-new-branch" \
    "$new" --not --exclude=refs/heads/bench-new-branch --all
}

echo
echo "hook dry-run vs git, median of $runs runs"
echo "| case                                 |      hook |       git | ratio |  peak RSS | same |"
echo "|--------------------------------------|-----------|-----------|-------|-----------|------|"
for r in first server; do git -C "$tmp/$r.git" commit-graph write --reachable 2>/dev/null; done
cases "graph"
for r in first server; do git -C "$tmp/$r.git" config core.commitGraph false; done
cases "no graph"
for r in first server; do git -C "$tmp/$r.git" config --unset core.commitGraph; done

# What the pusher feels: the same pushes into an empty repository with and without the hook.
# The hook is on for real (async delivery to a closed port on 127.0.0.1: one refused attempt).
push_time() { # push_time yes|no: a first push of the whole branch, then 3 more commits
  local target=$tmp/target.git first update
  rm -rf "$target"
  git init -q --bare "$target"
  printf '%s\n' "$config" > "$target/webhook.toml"
  if [ "$1" = yes ]; then ln -s "$bin" "$target/hooks/post-receive"; fi
  first=$(time_us git -C "$tmp/server.git" push -q "$target" "$head:refs/heads/$branch")
  update=$(time_us git -C "$tmp/server.git" push -q "$target" "$new:refs/heads/$branch")
  sleep 1 # The background deliverers end (one refused attempt each) before the next run.
  echo "$first $update"
}
echo
echo "git push wall time (median of $runs runs): with the hook vs without"
fw=(); fo=(); uw=(); uo=()
for _ in $(seq "$runs"); do
  read -r a b <<<"$(push_time with yes)"; fw+=("$a"); uw+=("$b")
  read -r a b <<<"$(push_time without no)"; fo+=("$a"); uo+=("$b")
done
printf '| %-34s | %10s | %10s |\n' "push" "with hook" "without"
printf '|------------------------------------|------------|------------|\n'
printf '| %-34s | %7s ms | %7s ms |\n' "first push ($count commits)" "$(median_ms "${fw[@]}")" "$(median_ms "${fo[@]}")"
printf '| %-34s | %7s ms | %7s ms |\n' "update (3 commits)" "$(median_ms "${uw[@]}")" "$(median_ms "${uo[@]}")"

# The hook's own time as post-receive (dry-run off), against its start-up cost (an empty push).
own=(); base=()
for _ in $(seq "$runs"); do
  own+=("$(time_us sh -c "printf '%s\n' '$zero $head refs/heads/$branch' | GIT_DIR='$tmp/first.git' '$bin' post-receive")")
  base+=("$(time_us sh -c "GIT_DIR='$tmp/first.git' '$bin' post-receive </dev/null")")
done
echo
echo "hook as post-receive, first push of $count commits: $(median_ms "${own[@]}") ms; start-up cost (nothing pushed): $(median_ms "${base[@]}") ms"

# Start-up: what the hook costs before any work, beside git's own.
echo
echo "start-up, median of $((runs * 3)) runs"
v=(); e=(); d=(); r=(); gv=()
line3="$head $new refs/heads/$branch"
for _ in $(seq $((runs * 3))); do
  gv+=("$(time_us git --version)")
  v+=("$(time_us "$bin" --version)")
  e+=("$(time_us sh -c "GIT_DIR='$tmp/server.git' '$bin' post-receive </dev/null")")
  d+=("$(time_us hook "$tmp/server.git" "$line3")")
  r+=("$(time_us git -C "$tmp/server.git" rev-list --count "$new" "^$head")")
done
printf '| %-40s | %9s |\n' "run" "time"
printf '|------------------------------------------|-----------|\n'
printf '| %-40s | %6s ms |\n' "git --version" "$(median_ms "${gv[@]}")"
printf '| %-40s | %6s ms |\n' "git-webhook --version" "$(median_ms "${v[@]}")"
printf '| %-40s | %6s ms |\n' "post-receive, nothing pushed" "$(median_ms "${e[@]}")"
printf '| %-40s | %6s ms |\n' "post-receive --dry-run, 3 commits" "$(median_ms "${d[@]}")"
printf '| %-40s | %6s ms |\n' "git rev-list --count new ^old" "$(median_ms "${r[@]}")"
echo "3-commit dry-run / rev-list: $(awk -v a="$(median_ms "${d[@]}")" -v b="$(median_ms "${r[@]}")" 'BEGIN { printf "%.2f", a / b }')x"

# A pusher's small update: 3 new commits pushed into a repository with the hook (which starts a
# background deliverer), into one with the hook whose pushes a running worker is told of
# (`deliver --watch --all`, as git-webhook-worker.service runs it), into one whose post-receive is
# `true` (what git itself spends on running any hook), and into one without, in turns, each time on
# top of the last. Each push waits until what the one before it started has ended (the background
# deliverer after its 20 ms, or the worker's round): the turns keep one order, so the push after the
# hook's would otherwise nearly always meet its deliverer.
with=$tmp/with.git served=$tmp/served/served.git empty=$tmp/empty.git without=$tmp/without.git
for t in "$with" "$served" "$empty" "$without"; do
  git init -q --bare "$t"
  printf '%s\n' "$config" > "$t/webhook.toml"
  git -C "$tmp/server.git" push -q "$t" "$head:refs/heads/$branch"
done
ln -s "$bin" "$with/hooks/post-receive"
ln -s "$bin" "$served/hooks/post-receive"
ln -s "$(command -v true)" "$empty/hooks/post-receive"
"$bin" deliver --watch --all "$tmp/served" >/dev/null 2>&1 &
worker=$!
# The worker, killed, ends with 143: under `set -e` its `wait` would end the trap there.
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do [ -S "$tmp/served/.git-webhook.sock" ] && break; sleep 0.05; done
declare -A took=()
tip=$head
kinds=(with served/served empty without)
for i in $(seq "$pushes"); do
  for j in 1 2 3; do tip=$(git -C "$tmp/server.git" commit-tree -p "$tip" -m "push $i.$j" "$head^{tree}"); done
  for k in 0 1 2 3; do
    t=${kinds[$(( (i + k) % 4 ))]}
    took[$t]+=" $(time_us git -C "$tmp/server.git" push -q "$tmp/$t.git" "$tip:refs/heads/$branch")"
    sleep 0.15 # One refused attempt, after 20 ms.
  done
done
# shellcheck disable=SC2086 # the lists of times are split on purpose
pw=$(median_ms ${took[with]}) ps=$(median_ms ${took[served/served]}) pe=$(median_ms ${took[empty]}) po=$(median_ms ${took[without]})
echo
echo "3-commit push, median of $pushes in turns: with the hook $pw ms, with the hook and a worker $ps ms, with an empty hook (true) $pe ms, without $po ms"
awk -v w="$pw" -v s="$ps" -v e="$pe" -v o="$po" 'BEGIN { printf "  the hook adds +%.1f ms, +%.1f ms with a worker (target <= 3), of which git running any hook +%.1f ms\n", w - o, s - o, e - o }'
