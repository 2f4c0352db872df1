#!/usr/bin/env bash
# Third-party receivers accept our requests: real pushes with the hook installed go to
#   - gitwebhooks 2.4.3 (PyPI), a deploy server that verifies GitLab tokens, Gitee passwords and
#     signatures, GitHub signatures, and (as its "custom" provider) GitCode tokens, and runs a
#     deploy command for every request it accepts;
# and one push's GitHub request, in dry-run, is checked by
#   - @octokit/webhooks-schemas (npm) with ajv: the push event JSON schema, strict;
#   - @octokit/webhooks-methods (npm): verify() of X-Hub-Signature-256;
#   - githubkit (PyPI): parse_obj("push", ...) into its pydantic model;
# and one push's request in each standard format, in dry-run, by
#   - cloudevents (PyPI, the CloudEvents SDK for Python): from_http() of the structured and the binary
#     request of `cloudevents` and `cdevents`;
#   - standardwebhooks (PyPI, the Standard Webhooks reference library): Webhook(whsec_...).verify();
# and the gitea and bitbucket-server bodies are type-checked by TypeScript against
#   - gitea-js (npm; types generated from Gitea's API description): the repository, users and commits
#     have exactly Gitea's keys (none missing, none extra) and its value types;
#   - @coderabbitai/bitbucket (npm): the repo:refs_changed event type (keys and types; the `links`
#     objects Bitbucket also sends are not in that type and are left out of the check, and
#     toCommit's parents are ids, not whole commits).
# Installs what it needs under target/receivers (PyPI and npm); everything listens on 127.0.0.1.
#
#   bash tests/receivers/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
cache=$root/target/receivers
mkdir -p "$cache"

cargo build --release --quiet
bin=$root/target/release/git-webhook

if [ ! -x "$cache/venv/bin/python" ]; then python3 -m venv "$cache/venv"; fi
"$cache/venv/bin/pip" install --quiet gitwebhooks==2.4.3 githubkit==0.16.1 "hishel>=1,<2" \
  cloudevents==1.12.0 standardwebhooks==1.0.0
if [ ! -d "$cache/npm/node_modules/@octokit/webhooks-schemas" ]; then
  npm install --silent --prefix "$cache/npm" @octokit/webhooks-schemas@7.6.1 @octokit/webhooks-methods@6.0.0 ajv@8 ajv-formats@3 >/dev/null
fi
if [ ! -d "$cache/npm/node_modules/gitea-js" ]; then
  npm install --silent --prefix "$cache/npm" gitea-js@1.23.0 @coderabbitai/bitbucket@1.1.4 typescript@5 >/dev/null
fi

tmp=$(mktemp -d)
cleanup() { [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
# Nothing of the caller's git (an exported GIT_DIR, GIT_INDEX_FILE, ...) may reach the commands below.
for v in $(compgen -e | grep '^GIT_'); do unset "$v"; done
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_WEBHOOK_GLOBAL_CONFIG=/nonexistent
export GIT_AUTHOR_NAME="Ada Lovelace" GIT_AUTHOR_EMAIL=ada@example.com GIT_COMMITTER_NAME="Ada Lovelace" GIT_COMMITTER_EMAIL=ada@example.com
export GL_USERNAME=alice
unset GIT_WEBHOOK_CONFIG GIT_WEBHOOK_DRY_RUN
secret="It's a Secret to Everybody"
port=$("$cache/venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cat > "$tmp/gitwebhooks.ini" <<INI
[server]
address = 127.0.0.1
port = $port
log_file = $tmp/gitwebhooks.log

[gitlab]
verify = true
secret = $secret
handle_events = Push Hook,Tag Push Hook

[gitee]
verify = true
secret = $secret
handle_events = Push Hook,Tag Push Hook

[github]
verify = true
secret = $secret
handle_events = push

[custom]
verify = true
secret = $secret
header_name = User-Agent
header_value = git-gitcode-hook
# gitwebhooks looks custom headers up case-sensitively; HTTP/1 requests go out with Title-Case names.
header_event = X-Gitcode-Event
header_token = X-Gitcode-Token
identifier_path = project.path_with_namespace
handle_events = Push Hook,Tag Push Hook

[acme/demo]
cwd = $tmp
cmd = echo accepted >> $tmp/accepted.txt
INI
"$cache/venv/bin/python" -m gitwebhooks.main serve -c "$tmp/gitwebhooks.ini" >"$tmp/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

mkdir -p "$tmp/srv/acme"
git init -q --bare -b main "$tmp/srv/acme/demo.git"
ln -s "$bin" "$tmp/srv/acme/demo.git/hooks/post-receive"
url="http://127.0.0.1:$port/"
cat > "$tmp/srv/acme/demo.git/webhook.toml" <<TOML
[delivery]
mode = "sync"     # each result as a remote: line, counted below

[project]
web_url = "https://git.example.com/acme/demo"
visibility_level = 20

[users.alice]
name = "Alice Example"
email = "alice@example.com"

[[endpoint]]
url = "$url"
format = "gitlab"
secret = "$secret"

[[endpoint]]
url = "$url"
format = "gitee"
secret = "$secret"

[[endpoint]]
url = "$url"
format = "gitee"
secret = "$secret"
secret_mode = "sign"

[[endpoint]]
url = "$url"
format = "github"
secret = "$secret"

[[endpoint]]
url = "$url"
format = "gitcode"
secret = "$secret"
TOML

chmod 600 "$tmp/srv/acme/demo.git/webhook.toml"   # it holds secrets
git clone -q "$tmp/srv/acme/demo.git" "$tmp/work" 2>/dev/null
cd "$tmp/work"
for i in 1 2 3; do echo "$i" > "file$i.txt"; git add .; git commit -q -m "Commit $i"; done
git push origin main 2>"$tmp/push1.err"
git tag -a v1.0 -m "Release 1.0"
git push origin v1.0 2>"$tmp/push2.err"
cat "$tmp/push1.err" "$tmp/push2.err" | grep 'git-webhook' || true

# 5 endpoints x 2 pushes, each answered 200 and each deploy command run.
ok=$(cat "$tmp/push1.err" "$tmp/push2.err" | grep -c ': 200 OK in' || true)
accepted=$(wc -l < "$tmp/accepted.txt" 2>/dev/null || echo 0)
echo "gitwebhooks: $ok of 10 requests answered 200; deploy command ran $accepted times"
[ "$ok" -eq 10 ] && [ "$accepted" -eq 10 ] || { cat "$tmp/server.out" "$tmp/gitwebhooks.log" 2>/dev/null | tail -30; exit 1; }

# The GitHub request for the last two commits, exactly as it would be sent.
cd "$tmp/srv/acme/demo.git"
awk '/^\[\[endpoint\]\]/ { n++ } n == 0 || n == 4 { print }' webhook.toml > "$tmp/github.toml"
printf '%s %s refs/heads/main\n' "$(git rev-parse main~2)" "$(git rev-parse main)" \
  | GIT_DIR=. "$bin" post-receive --config "$tmp/github.toml" --dry-run 2>/dev/null > "$tmp/dry.txt"
# The body is the pretty JSON after the blank line; made compact again, it is what goes on the wire.
awk 'body { print } /^$/ && !body { body = 1 }' "$tmp/dry.txt" | "$cache/venv/bin/python" -c '
import json, sys
body = json.load(sys.stdin)
open(sys.argv[1], "w").write(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
' "$tmp/github.json"
sig=$(grep '^X-Hub-Signature-256:' "$tmp/dry.txt" | cut -d' ' -f2)

node --input-type=module - "$cache/npm" "$tmp/github.json" "$secret" "$sig" <<'JS'
import fs from "fs";
import { createRequire } from "module";
import { pathToFileURL } from "url";
const [npm, file, secret, signature] = process.argv.slice(2);
const require = createRequire(npm + "/package.json");
const Ajv = require("ajv"); const addFormats = require("ajv-formats");
const schema = require("@octokit/webhooks-schemas/schema.json");
const { verify } = await import(pathToFileURL(npm + "/node_modules/@octokit/webhooks-methods/dist-node/index.js"));
const text = fs.readFileSync(file, "utf8");
const ajv = new Ajv({ strict: false, allErrors: true }); addFormats(ajv);
ajv.addSchema(schema, "webhooks");
const validate = ajv.getSchema("webhooks#/definitions/push$event");
if (!validate(JSON.parse(text))) { console.error(JSON.stringify(validate.errors, null, 1)); process.exit(1); }
if (!(await verify(secret, text, signature))) { console.error("X-Hub-Signature-256 does not verify"); process.exit(1); }
console.log("@octokit/webhooks-schemas: push event valid; @octokit/webhooks-methods: X-Hub-Signature-256 verifies");
JS
"$cache/venv/bin/python" - "$tmp/github.json" <<'PY'
import json, sys
from githubkit.webhooks import parse_obj
event = parse_obj("push", json.load(open(sys.argv[1])))
print(f"githubkit: parsed {type(event).__name__} with {len(event.commits)} commits, head {event.head_commit.id[:12]}")
PY

# One request of each standard format for the same update, as it would be sent (signatures included).
whsec="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
for f in cloudevents cloudevents-binary cdevents cdevents-binary standard-webhooks; do
  key=$secret; [ "$f" = standard-webhooks ] && key=$whsec
  printf '[project]\nweb_url = "https://git.example.com/acme/demo"\n[[endpoint]]\nurl = "http://127.0.0.1:9/"\nformat = "%s"\nsecret = "%s"\n' "$f" "$key" > "$tmp/$f.toml"
  printf '%s %s refs/heads/main\n' "$(git rev-parse main~2)" "$(git rev-parse main)" \
    | GIT_DIR=. "$bin" post-receive --config "$tmp/$f.toml" --dry-run 2>/dev/null > "$tmp/$f.txt"
done
"$cache/venv/bin/python" - "$tmp" "$whsec" <<'PY'
import json, sys
from importlib.metadata import version
from cloudevents.http import from_http
from standardwebhooks import Webhook
tmp, whsec = sys.argv[1:]

def request(name):
    """Headers and the wire body of the one request a dry-run printed (the body made compact again)."""
    head, body = open(f"{tmp}/{name}.txt").read().split("\n\n", 1)
    headers = dict(line.split(": ", 1) for line in head.splitlines()[2:])
    wire = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    return headers, wire

for name in ["cloudevents", "cloudevents-binary", "cdevents", "cdevents-binary"]:
    headers, body = request(name)
    event = from_http(headers, body)
    data = event.data
    neutral = data["customData"] if name.startswith("cdevents") else data
    assert event["source"] == "https://git.example.com/acme/demo", event["source"]
    assert event["subject"] == "refs/heads/main" and neutral["ref"] == "refs/heads/main"
    print(f"cloudevents {version('cloudevents')}: {name} parsed: type {event['type']}, "
          f"{neutral['total_commits']} commits")
headers, body = request("standard-webhooks")
payload = Webhook(whsec).verify(body, headers)
print(f"standardwebhooks {version('standardwebhooks')}: signature verifies; type {payload['type']}, "
      f"{payload['data']['total_commits']} commits")
PY

# gitea and bitbucket-server bodies for a push of main and a new tag, type-checked by tsc.
for f in gitea bitbucket-server; do
  printf '[project]\nweb_url = "https://git.example.com/acme/demo"\n[[endpoint]]\nurl = "http://127.0.0.1:9/"\nformat = "%s"\nsecret = "%s"\n' "$f" "$secret" > "$tmp/$f.toml"
  printf '%s %s refs/heads/main\n%s %s refs/tags/v2.0\n' "$(git rev-parse main~2)" "$(git rev-parse main)" \
    "0000000000000000000000000000000000000000" "$(git rev-parse main)" \
    | GIT_DIR=. "$bin" post-receive --config "$tmp/$f.toml" --dry-run 2>/dev/null > "$tmp/$f.txt"
done
node - "$tmp" <<'JS' > "$cache/npm/check.ts"
const fs = require("fs");
const tmp = process.argv[2];
// The bodies of a dry-run's requests (each after its headers' blank line, up to the next request).
const bodies = (name) => fs.readFileSync(`${tmp}/${name}.txt`, "utf8").split(/^# endpoint /m).slice(1)
  .map((r) => JSON.parse(r.slice(r.indexOf("\n\n"))));
const lit = (v) => JSON.stringify(v, null, 1);
const gitea = bodies("gitea").find((b) => b.commits && b.commits.length > 0);
const { owner, ...repository } = gitea.repository;
const { author, ...commit } = gitea.commits[0];
const bitbucket = bodies("bitbucket-server")[0];
const unlinked = JSON.parse(JSON.stringify(bitbucket, (k, v) => (k === "links" ? undefined : v)));
console.log(`import type { Repository, User, PayloadCommit, PayloadUser } from "gitea-js";
import type * as bitbucket from "@coderabbitai/bitbucket/server";
type Exactly<T> = Required<T>;
// Gitea leaves these out when empty (omitempty); the rest must all be there, and nothing else but
// what Gitea sends beyond gitea-js's API types: the merge settings newer than its 1.23 types, and
// the users' \`username\`, which Gitea adds for compatibility when it writes a user (its MarshalJSON).
type Repo = Exactly<Omit<Repository, "owner" | "parent" | "external_tracker" | "external_wiki" | "repo_transfer">>
  & { allow_manual_merge: boolean; autodetect_manual_merge: boolean };
type GiteaUser = Exactly<User> & { username: string };
// Go writes a missing signer as null, which the API types leave out.
type Commit = Exactly<Omit<PayloadCommit, "author" | "verification">> & {
  verification: Omit<Exactly<NonNullable<PayloadCommit["verification"]>>, "signer"> & { signer: null };
};
// toCommit's parents are given as ids (as in \`commits\`), not as whole commits.
type RefsChanged = Omit<bitbucket.repo.refsChanged.RepoRefsChanged, "toCommit"> & {
  toCommit: Omit<bitbucket.repo.refsChanged.ToCommit, "parents"> & { parents: bitbucket.repo.refsChanged.Parent[] };
};
export const repository = ${lit(repository)} satisfies Repo;
export const owner = ${lit(owner)} satisfies GiteaUser;
export const pusher = ${lit(gitea.pusher)} satisfies GiteaUser;
export const commit = ${lit(commit)} satisfies Commit;
export const author = ${lit(author)} satisfies Exactly<PayloadUser>;
export const refsChanged = ${lit(unlinked)} satisfies RefsChanged;`);
JS
if (cd "$cache/npm" && node_modules/.bin/tsc --noEmit --strict --target es2022 --module nodenext \
    --moduleResolution nodenext --skipLibCheck check.ts > "$tmp/tsc.out" 2>&1); then
  echo "tsc $("$cache/npm/node_modules/.bin/tsc" --version | cut -d' ' -f2): gitea repository, users and commits have gitea-js $(node -p "require('$cache/npm/node_modules/gitea-js/package.json').version")'s keys and types; refs_changed matches @coderabbitai/bitbucket"
else
  cat "$tmp/tsc.out"; exit 1
fi
echo "all third-party receivers accepted our requests"
