#!/bin/sh
# compose/make-secrets.sh DIR — this install's secrets, made once (the `secrets` service runs it
# on every `up`; what exists is kept). One file per variable, read by Cairn's services through
# CAIRN_SECRETS_DIR: the signing key every event is signed with, the webhook key subscription
# secrets derive from, and the write token of the administrator `demo`. Random per install:
# no secret is written in the compose file, so none is shared by every Docker user.
set -eu
dir=${1:?usage: make-secrets.sh DIR}
umask 077
random() { od -An -tx1 -N32 /dev/urandom | tr -d ' \n'; }
keep() {  # keep NAME VALUE: write the file unless it is there (atomically, mode 600)
  [ -s "$dir/$1" ] && return 0
  printf '%s' "$2" >"$dir/$1.new" && mv "$dir/$1.new" "$dir/$1"
}
keep CAIRN_SIGNING_KEY "$(random)"
keep CAIRN_WEBHOOK_KEY "$(random)"
keep CAIRN_TOKEN "$(random)"
keep CAIRN_API_TOKENS "demo=$(cat "$dir/CAIRN_TOKEN")"
echo "Cairn's secrets are in $dir (the token: cat $dir/CAIRN_TOKEN)"
