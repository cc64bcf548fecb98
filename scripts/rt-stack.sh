#!/usr/bin/env bash
# Request Tracker 5 on loopback for the tests (Debian's request-tracker5,
# SQLite database, standalone server on 127.0.0.1:$RT_PORT, REST2 at
# /REST/2.0 with root:rtrootpw). Mail: RT sends through /usr/sbin/sendmail
# (OpenSMTPD, see scripts/mail-stack.sh); mail to rt@example.test reaches RT
# through rt-mailgate when the mail stack is started with RT_URL set.
# Usage: scripts/rt-stack.sh start|stop     (needs root or sudo; Debian)
set -euo pipefail
cd "$(dirname "$0")"
RT_PORT=${RT_PORT:-18080}
STATE=/var/lib/supportprobe-rt
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

stop() {
  if as_root test -f "$STATE/rt.pid"; then
    pid=$(as_root cat "$STATE/rt.pid"); as_root rm -f "$STATE/rt.pid"
    as_root kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
}
if [ "${1:-start}" = stop ]; then stop; exit 0; fi

if [ ! -x /usr/share/request-tracker5/libexec/rt-server ]; then
  echo "== installing Request Tracker 5"
  export DEBIAN_FRONTEND=noninteractive
  as_root debconf-set-selections rt/preseed.txt
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends request-tracker5 rt5-standalone rt5-db-sqlite dbconfig-common dbconfig-sqlite3 >/dev/null
fi
as_root mkdir -p "$STATE"
as_root tee /etc/request-tracker5/RT_SiteConfig.d/99-supportprobe.pm >/dev/null <<CONF
Set(\$WebPath, '');
Set(\$WebBaseURL, 'http://127.0.0.1:$RT_PORT');
Set(\$MailCommand, 'sendmailpipe');
Set(\$SendmailPath, '/usr/sbin/sendmail');
Set(\$RecordOutgoingEmail, 1);
Set(\$RestrictReferrer, 0);
1;
CONF
if ! as_root test -f "$STATE/acl-granted-v3"; then
  # Everyone may create tickets and reply in General (mail through rt-mailgate, requesters over REST2).
  as_root sh -c "rt-setup-database-5 --action insert --skip-create --datafile '$PWD/rt/acl.pl' >'$STATE/acl.log' 2>&1" \
    || { as_root cat "$STATE/acl.log" >&2; exit 1; }
  as_root touch "$STATE/acl-granted-v3"
fi
# The requester and agent of config/local-mail-rt.toml.
as_root sh -c "perl '$PWD/rt/users.pl' >'$STATE/users.log' 2>&1" || { as_root cat "$STATE/users.log" >&2; exit 1; }
stop
as_root sh -c "/usr/share/request-tracker5/libexec/rt-server --server Standalone --host 127.0.0.1 --port $RT_PORT </dev/null >>'$STATE/rt.log' 2>&1 & echo \$! > '$STATE/rt.pid'"
for _ in $(seq 1 150); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -u root:rtrootpw "http://127.0.0.1:$RT_PORT/REST/2.0/queues/all" || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "RT did not start (HTTP $code); see $STATE/rt.log" >&2; exit 1; }
echo "request tracker: http://127.0.0.1:$RT_PORT (REST2 /REST/2.0, root:rtrootpw; requester poc:pocpass, agent agent:agentpass)"
