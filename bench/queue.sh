#!/usr/bin/env bash
# Benchmark of the database queue (not a test). Prints, measured in the same run:
#   push time   `git push` of one commit with the hook queueing into the spool, into PostgreSQL
#               ([delivery] mode = "queue"), and with no hook: the milliseconds the database adds
#               (target: at most 5 ms over the spool);
#   drain rate  JOBS jobs for 8 endpoints of one receiver on 127.0.0.1 in 64 repositories, sent from the
#               database by 1, 2 and 4 `deliver --watch` workers, against one `deliver --now` over as
#               many jobs in one repository's spool, the best of ROUNDS (3) runs taking turns (target:
#               one worker at least the spool's rate);
#               then again, as many runs, with a receiver that takes 5 ms per answer, where more
#               workers send more at once (targets: 2 workers 1.8x one, 4 workers 3x; on a machine
#               with few cores the instant receiver leaves them no CPU to share), and what that
#               receiver takes from wrk over 8 and 32 connections; and one worker once more with
#               the table analyzed when its jobs were all delivered (autovacuum's view of a queue
#               between bursts, in which few jobs wait), at about the same rate; and the CPU each
#               job took from the deliverer, the database and the receiver, against what the
#               machine's cores give per job at the spool's rate;
#   ceiling     what the machine itself does: wrk (8 connections, the same 1.6 KB body, 2 s) against
#               the same instant receiver, nginx answering `return 200` on 127.0.0.1, in each round
#               just before the spool's drain; the spool's share of it round by round, the median
#               (target: at least 25%), and each best drain as a share of the median ceiling;
#   plans       the claim's and the settle's statements as PostgreSQL planned them in one more drain
#               (auto_explain): the claim reads the repository's waiting jobs through an index.
# Needs PostgreSQL's server programs (initdb, pg_ctl), nginx and wrk (installed with apt-get when
# missing and run as root); the cluster lives in a temp dir, on a unix socket.
#
#   bash bench/queue.sh
#   JOBS=2000 PUSHES=10 ROUNDS=1 bash bench/queue.sh    # smaller
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-10000}
pushes=${PUSHES:-30}
rounds=${ROUNDS:-3}
per=$((jobs / 8))
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "bench/queue.sh needs nginx and wrk (apt-get install nginx wrk)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
fi
bash packaging/build.sh --quiet # As shipped.
bin=$PWD/target/release/git-webhook
pgbin=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | head -1)")
tmp=$(mktemp -d /tmp/gwq.XXXXXX)
as=()
if [ "$(id -u)" = 0 ]; then chown postgres "$tmp"; as=(runuser -u postgres --); fi
recv=
cleanup() {
  [ -n "$recv" ] && kill "$recv" 2>/dev/null
  [ -s "$tmp/nginx.pid" ] && kill "$(cat "$tmp/nginx.pid")" 2>/dev/null
  "${as[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"${as[@]}" "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres --no-sync >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$tmp/data" -o "-k $tmp -c listen_addresses='' -c shared_preload_libraries=auto_explain" -l "$tmp/pg.log" -w start >/dev/null
url="postgresql://postgres@/postgres?host=$tmp"
sql() { psql -h "$tmp" -U postgres -Atc "$1"; }

# A receiver that takes 5 ms per answer, with keep-alive, on port $1 (started in nginx's place): one
# asyncio loop, so that on a machine with few cores it leaves the CPU to what is measured (a thread
# per connection spent most of a core at 3,000 answers/s).
cat >"$tmp/recv.py" <<'PY'
import asyncio, sys
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    n = int(line[15:])
            if n:
                await reader.readexactly(n)
            await asyncio.sleep(0.005)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main(int(sys.argv[1])))
PY

# The instant receiver the drains go to, and the ceiling: nginx on 127.0.0.1, answering 200 at once.
fast=$((20000 + RANDOM % 20000))
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<NGINX
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx;
  proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx; uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$fast; location / { return 200 "ok"; } }
}
NGINX
nginx -c "$tmp/nginx.conf" -p "$tmp/nginx"
for _ in $(seq 50); do [ -s "$tmp/nginx.pid" ] && break; sleep 0.1; done
body=$(head -c 1600 /dev/zero | tr '\0' 'x')
printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/json"\n' "$body" >"$tmp/post.lua"
# rate CONNECTIONS SECONDS: what wrk gets from the receiver on port $fast (nginx, or the slow one).
rate() { wrk -t 2 -c "$1" -d "$2s" -s "$tmp/post.lua" "http://127.0.0.1:$fast/hook" | awk '/Requests\/sec/ { printf "%d", $2 }'; }

export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_WEBHOOK_GLOBAL_CONFIG=/nonexistent
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
# The jobs go to nginx (then, for the slow round, to the Python receiver on its port).
endpoints=$(for i in $(seq 0 7); do printf '[[endpoint]]\nurl = "http://127.0.0.1:%s/hook%s"\n' "$fast" "$i"; done)
repo() { # repo NAME QUEUE-LINE HOOK?
  git init -q --bare -b main "$tmp/$1.git"
  # max_parallel = 8: one worker sends 8 requests at once, so that what more workers add shows on
  # a machine with few cores.
  printf '[delivery]\nmode = "queue"\nmax_parallel = 8\n%s\n%s\n' "$2" "$endpoints" >"$tmp/$1.git/webhook.toml"
  [ "$3" = hook ] && ln -s "$bin" "$tmp/$1.git/hooks/post-receive"
  git clone -q "$tmp/$1.git" "$tmp/$1.work" 2>/dev/null
}
push_us() { # push_us NAME: wall time of one push of one new commit, in µs
  local w=$tmp/$1.work start end
  git -C "$w" commit -q --allow-empty -m "push"
  start=$(date +%s%N)
  git -C "$w" push -q origin HEAD:main 2>/dev/null
  end=$(date +%s%N)
  echo $(( (end - start) / 1000 ))
}
repo nohook "" none
repo spool "" hook
repo db "queue = \"$url\"" hook
# The three kinds of push take turns, so that the machine's ups and downs touch them alike.
declare -A took=([nohook]=0 [spool]=0 [db]=0)
for n in nohook spool db; do push_us "$n" >/dev/null; done # warm up
for _ in $(seq "$pushes"); do
  for n in nohook spool db; do took[$n]=$(( took[$n] + $(push_us "$n") )); done
done
base=$(( took[nohook] / pushes )); spool=$(( took[spool] / pushes )); db=$(( took[db] / pushes ))
printf 'push time (%s pushes each, µs per push): no hook %s, spool %s, database %s\n' "$pushes" "$base" "$spool" "$db"
printf '  the database adds %s µs over the spool (target <= 5000); the hook with the database: %s µs over no hook\n' \
  $((db - spool)) $((db - base))

# JOBS jobs in 64 repositories (so that several workers have repositories to share): the 8 jobs of one
# push, copied into each repository with fresh ids.
sql "DELETE FROM git_webhook.jobs; DELETE FROM git_webhook.attempts;" >/dev/null
git -C "$tmp/db.work" commit -q --allow-empty -m seed && git -C "$tmp/db.work" push -q origin HEAD:main 2>/dev/null
repos=()
for r in $(seq 0 63); do
  repo "db$r" "queue = \"$url\"" none
  repos+=("$(cd "$tmp/db$r.git" && pwd -P)")
done
sql "CREATE TEMP TABLE seed AS SELECT * FROM git_webhook.jobs ORDER BY seq LIMIT 8;
     DELETE FROM git_webhook.jobs;
     INSERT INTO git_webhook.jobs (id, seq, event, repo, endpoint, refname, state, attempts, created_ms, next_ms, schema, job)
     SELECT u, nextval('git_webhook.job_order'), event, r, endpoint, refname, 'queued', 0, created_ms, next_ms, schema,
            jsonb_set(jsonb_set(job, '{delivery,hook,delivery_id}', to_jsonb(u::text)), '{repo}', to_jsonb(r))
     FROM (SELECT gen_random_uuid() AS u, r, s.*
           FROM generate_series(1, $((per / 64))) n, unnest(ARRAY['$(IFS=,; echo "${repos[*]}" | sed "s/,/','/g")']) r,
                seed s ORDER BY n, r, s.seq) x;" >/dev/null
# Planned with statistics that know the jobs, as a queue in use has them (autovacuum's analyze).
sql "ANALYZE git_webhook.jobs" >/dev/null
queued() { sql "SELECT count(*) FROM git_webhook.jobs WHERE state = 'queued'"; }
# CPU time: what the live processes PID... used so far (user and system, in clock ticks), and the
# processes of the database and of the instant receiver. A drain leaves its figures in $tmp/cpu:
# the deliverers', the database's and the receiver's CPU in ticks.
ticks() {
  local p s=0 st
  for p in "$@"; do
    st=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    read -r -a st <<<"${st##*) }"
    s=$((s + st[11] + st[12]))
  done
  echo "$s"
}
tck=$(getconf CLK_TCK)
family() { [ -s "$1" ] && { head -1 "$1"; pgrep -P "$(head -1 "$1")"; } || true; }
db_ticks() { ticks $(family "$tmp/data/postmaster.pid"); }
receiver_ticks() { ticks $(family "$tmp/nginx.pid"); }
drain_db() { # drain_db WORKERS: jobs per second, from the start to the last job's settling
  local pids=() start last p0 r0 w
  # Every job waiting again, then the versions the drain before left removed, as autovacuum does in
  # a queue in use: the jobs lie as many to a page as when they were added, not on pages the
  # rewrite filled (the table's statistics stay what they were).
  sql "UPDATE git_webhook.jobs SET state = 'queued', attempts = 0, claimed_by = NULL, finished_ms = NULL,
         job = jsonb_set(job, '{attempts}', '0')" >/dev/null
  sql "VACUUM git_webhook.jobs" >/dev/null
  p0=$(db_ticks) r0=$(receiver_ticks)
  start=$(date +%s%3N)
  for _ in $(seq "$1"); do
    GIT_DIR="$tmp/db.git" "$bin" deliver --watch --repo "$tmp/db.git" >/dev/null 2>&1 &
    pids+=($!)
  done
  for _ in $(seq 1200); do [ "$(queued)" = 0 ] && break; sleep 0.25; done
  w=$(ticks "${pids[@]}")
  echo "$w $(($(db_ticks) - p0)) $(($(receiver_ticks) - r0))" >"$tmp/cpu"
  last=$(sql "SELECT max(finished_ms) FROM git_webhook.jobs")
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true
  echo $(( total * 1000 / (last - start) ))
}
total=$(sql "SELECT count(*) FROM git_webhook.jobs")

# As many jobs for the spool's one repository, made once and copied in before each pass.
git -C "$tmp/spool.work" commit -q --allow-empty -m seed && git -C "$tmp/spool.work" push -q origin HEAD:main 2>/dev/null
mkdir "$tmp/stash"
python3 - "$tmp/spool.git/webhook/queue" "$tmp/stash" "$per" <<'PY'
import json, os, sys, uuid
q, stash, per = sys.argv[1], sys.argv[2], int(sys.argv[3])
seeds = sorted(os.listdir(q))[-8:]
jobs = [json.load(open(os.path.join(q, f))) for f in seeds]
for f in os.listdir(q): os.remove(os.path.join(q, f))
for n in range(per):
    for j in jobs:
        u = str(uuid.uuid4()); j = dict(j, created_ms=j["created_ms"] + n)
        j["delivery"] = dict(j["delivery"], hook=dict(j["delivery"]["hook"], delivery_id=u))
        json.dump(j, open(os.path.join(stash, "%013d-%s.json" % (j["created_ms"], u)), "w"))
PY
stashed=$(ls "$tmp/stash" | wc -l)
drain_spool() { # jobs per second of one `deliver --now` over the spool
  local start end r0 TIMEFORMAT='%3U %3S' took
  find "$tmp/spool.git/webhook/queue" "$tmp/spool.git/webhook/done" -name '*.json' -delete
  cp "$tmp/stash/"*.json "$tmp/spool.git/webhook/queue/"
  r0=$(receiver_ticks)
  start=$(date +%s%N)
  { time GIT_DIR="$tmp/spool.git" "$bin" deliver --now --repo "$tmp/spool.git" >/dev/null 2>&4; } 4>&2 2>"$tmp/took"
  end=$(date +%s%N)
  read -r -a took <"$tmp/took"
  # As ticks, like the others: seconds with three decimals, times the ticks in a second.
  echo "$(( (10#${took[0]/./} + 10#${took[1]/./}) * tck / 1000 )) 0 $(($(receiver_ticks) - r0))" >"$tmp/cpu"
  [ -z "$(ls -A "$tmp/spool.git/webhook/queue")" ] || echo "the spool pass left jobs queued" >&2
  echo $((stashed * 1000000000 / (end - start)))
}

# The best of ROUNDS, the spool and each number of workers taking turns; in each round the ceiling
# just before the spool's drain, and the spool's share of it.
max() { echo $(( $1 > $2 ? $1 : $2 )); }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rs=0 r1=0 r2=0 r4=0 ceilings=() shares=() spool_cpu=() db_cpu=()
for _ in $(seq "$rounds"); do
  c=$(rate 8 2)
  s=$(drain_spool)
  read -r -a cpu <"$tmp/cpu"
  spool_cpu+=("${cpu[*]}")
  ceilings+=("$c") shares+=("$(( s * 100 / c ))")
  rs=$(max "$rs" "$s")
  d=$(drain_db 1)
  read -r -a cpu <"$tmp/cpu"
  db_cpu+=("${cpu[*]}")
  r1=$(max "$r1" "$d"); r2=$(max "$r2" "$(drain_db 2)"); r4=$(max "$r4" "$(drain_db 4)")
done
c0=$(median "${ceilings[@]}")
# Once more, one worker, the table analyzed now that its jobs are all delivered, as autovacuum
# finds a queue in use between bursts: its statistics say few jobs wait, and the claims must not
# read every repository's waiting jobs for it.
sql "ANALYZE git_webhook.jobs" >/dev/null
rf=$(drain_db 1)
sql "UPDATE git_webhook.jobs SET state = 'queued'; ANALYZE git_webhook.jobs" >/dev/null
kill "$(cat "$tmp/nginx.pid")"
sleep 0.5
python3 "$tmp/recv.py" "$fast" &
recv=$!
sleep 0.5
s1=0 s2=0 s4=0
for _ in $(seq "$rounds"); do
  s1=$(max "$s1" "$(drain_db 1)"); s2=$(max "$s2" "$(drain_db 2)"); s4=$(max "$s4" "$(drain_db 4)")
done
w8=$(rate 8 3); w32=$(rate 32 3)
# The plans of the claim and the settle, as PostgreSQL ran them in one more drain (auto_explain).
sql "ALTER SYSTEM SET auto_explain.log_min_duration = 0" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
drain_db 1 >/dev/null
sql "ALTER SYSTEM RESET ALL" >/dev/null
sql "SELECT pg_reload_conf()" >/dev/null
plan() { # plan TEXT: the first plan logged for the statement starting with TEXT
  awk -v want="Query Text: $1" '
    index($0, want) { on = 1 }
    on && /^[0-9][0-9][0-9][0-9]-/ { exit }
    on && !/^\t *$/ { sub(/^\t/, "    "); print }' "$tmp/pg.log"
}
printf 'drain rate (%s jobs, 8 endpoints, jobs/s, best of %s): spool, one pass %s; database, 1 worker %s, 2 workers %s, 4 workers %s\n' \
  "$total" "$rounds" "$rs" "$r1" "$r2" "$r4"
printf '  database vs spool with one worker: %s%%\n' $(( r1 * 100 / rs ))
per_job() { # per_job JOBS COLUMN ROUND...: the median over the rounds of a $tmp/cpu column, µs per job
  local n=$1 c=$2 r v
  shift 2
  median $(for r in "$@"; do read -r -a v <<<"$r"; echo $((v[c] * 1000000 / tck / n)); done)
}
sw=$(per_job "$stashed" 0 "${spool_cpu[@]}") sr=$(per_job "$stashed" 2 "${spool_cpu[@]}")
dw=$(per_job "$total" 0 "${db_cpu[@]}") dp=$(per_job "$total" 1 "${db_cpu[@]}") dr=$(per_job "$total" 2 "${db_cpu[@]}")
printf '  CPU per job (µs, median of the rounds): spool: deliverer %s + receiver %s = %s; database, 1 worker: worker %s + PostgreSQL %s + receiver %s = %s\n' \
  "$sw" "$sr" $((sw + sr)) "$dw" "$dp" "$dr" $((dw + dp + dr))
printf '  at the spool'"'"'s best rate, this machine'"'"'s %s cores give %s µs of CPU per job\n' "$(nproc)" $(($(nproc) * 1000000 / rs))
printf '  database, 1 worker, the table analyzed when all its jobs were delivered: %s (%s%% of the above)\n' \
  "$rf" $(( rf * 100 / r1 ))
printf '  with a receiver taking 5 ms per answer: database, 1 worker %s, 2 workers %s (%s.%02dx), 4 workers %s (%s.%02dx)\n' \
  "$s1" "$s2" $((s2 / s1)) $((s2 * 100 / s1 % 100)) "$s4" $((s4 / s1)) $((s4 * 100 / s1 % 100))
printf '  that receiver itself (wrk): 8 connections %s requests/s, 32 connections %s\n' "$w8" "$w32"
printf 'ceiling: wrk against the same nginx, 8 connections, 1.6 KB POSTs: %s requests/s (median; each round: %s)\n' \
  "$c0" "${ceilings[*]}"
printf '  the spool'"'"'s share of the ceiling just before its drain: %s%% (median; each round: %s)\n' \
  "$(median "${shares[@]}")" "$(printf '%s%% ' "${shares[@]}" | sed 's/ $//')"
printf '  the best drains'"'"' share of the median: spool %s%%, database 1 worker %s%%, 2 workers %s%%, 4 workers %s%%\n' \
  $((rs * 100 / c0)) $((r1 * 100 / c0)) $((r2 * 100 / c0)) $((r4 * 100 / c0))
echo 'the claim (listing a repository'"'"'s waiting jobs, then taking those picked):'
plan "SELECT id, seq, attempts, repo, job FROM git_webhook.jobs"
plan "UPDATE git_webhook.jobs j SET claimed_by"
echo 'the settle (a batch of answers):'
plan "WITH s AS ("
