#!/bin/sh
# Start of the container: platforms such as Railway mount volumes owned by root, while the server
# runs as the unprivileged user 10001. As root, take ownership of DATA_DIR (only when it is not
# ours yet) and drop privileges; `exec` keeps the server as PID 1, so it receives SIGTERM itself.
set -eu
data="${DATA_DIR:-/app/data}"
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$data"
  if [ "$(stat -c %u "$data")" != 10001 ]; then
    chown -R 10001:10001 "$data"
  fi
  exec setpriv --reuid=10001 --regid=10001 --clear-groups -- "$@"
fi
exec "$@"
