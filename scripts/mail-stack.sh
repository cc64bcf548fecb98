#!/usr/bin/env bash
# A loopback mail stack for the tests: OpenSMTPD (SMTP, 127.0.0.1:$SMTP_PORT)
# delivering through Dovecot LMTP into Maildirs served by Dovecot IMAP
# (127.0.0.1:$IMAP_PORT). Every address @example.test is accepted; the test
# mailboxes are probe@ and vendor@ (password $MAIL_PASS).
# TLS, with a CA made here ($ROOT/tls/ca.crt) for localhost and 127.0.0.1:
# mail submission with AUTH (Dovecot's submission service, relaying to
# OpenSMTPD) with STARTTLS on :$SMTP_STARTTLS_PORT and implicit TLS on
# :$SMTPS_PORT; IMAP STARTTLS on :$IMAP_PORT, implicit TLS on :$IMAPS_PORT.
# (OpenSMTPD 6.8's own TLS fails its handshakes under Debian 12's OpenSSL 3.)
# Usage: scripts/mail-stack.sh start|stop|restart-imap [DOWN_SECONDS]|new-uidvalidity USER|save USER <MAIL     (needs root or sudo; Debian)
set -euo pipefail
SMTP_PORT=${SMTP_PORT:-2525}
IMAP_PORT=${IMAP_PORT:-1143}
IMAPS_PORT=${IMAPS_PORT:-1993}
SMTP_STARTTLS_PORT=${SMTP_STARTTLS_PORT:-2587}
SMTPS_PORT=${SMTPS_PORT:-2465}
DOMAIN=example.test
MAIL_PASS=${MAIL_PASS:-probepass}
ROOT=${MAIL_ROOT:-/var/lib/supportprobe-mailtest}
RT_URL=${RT_URL:-}        # e.g. http://127.0.0.1:18080/ : mail to rt@example.test goes to RT through rt-mailgate
RUN=/run/supportprobe-dovecot

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

stop() {
  local pids=""
  for pf in "$RUN/master.pid" "$ROOT/smtpd.pid"; do
    if as_root test -f "$pf"; then pids="$pids $(as_root cat "$pf")"; as_root rm -f "$pf"; fi
  done
  [ -n "$pids" ] && as_root kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do
    alive=0; for p in $pids; do as_root kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.2
  done
}
if [ "${1:-start}" = stop ]; then stop; exit 0; fi
if [ "${1:-start}" = save ]; then
  # Puts the mail on stdin straight into USER's INBOX, as it is: no MTA adds
  # or repairs headers (for broken mail).
  as_root doveadm -c "$ROOT/dovecot.conf" save -u "$2"
  exit 0
fi
if [ "${1:-start}" = new-uidvalidity ]; then
  # Gives USER's INBOX a new UIDVALIDITY (as when a server rebuilds its index)
  # and drops every IMAP connection, so clients must select it afresh.
  as_root doveadm -c "$ROOT/dovecot.conf" mailbox update -u "$2" --uid-validity "$(date +%s)" INBOX
  as_root pkill -KILL -f '^dovecot-supportprobe-dovecot/imap' || true
  exit 0
fi
if [ "${1:-start}" = restart-imap ]; then
  # Restart Dovecot only (the tests' "IMAP server restarts mid-probe"), down for
  # ${2:-0} seconds; OpenSMTPD queues meanwhile. Dovecot 2.3's imap processes
  # outlive their master, so they are killed too: every client connection drops.
  pid=$(as_root cat "$RUN/master.pid"); as_root kill "$pid"
  for _ in $(seq 1 50); do as_root kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  as_root pkill -KILL -f '^dovecot-supportprobe-dovecot/' || true
  sleep "${2:-0}"
  as_root dovecot -c "$ROOT/dovecot.conf" </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$IMAP_PORT") 2>/dev/null && break; sleep 0.1; done
  exit 0
fi

if ! command -v smtpd >/dev/null || ! command -v dovecot >/dev/null || [ ! -x /usr/lib/dovecot/lmtp ] || [ ! -x /usr/lib/dovecot/submission ]; then
  echo "== installing OpenSMTPD and Dovecot"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends dovecot-core dovecot-imapd dovecot-lmtpd dovecot-submissiond opensmtpd openssl >/dev/null
fi
stop

# A CA of our own and a server certificate it signs, made once.
TLS=$ROOT/tls
if ! as_root test -s "$TLS/server-ec.crt"; then
  as_root mkdir -p "$TLS"
  as_root sh -c "cd '$TLS' && umask 077 &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=supportprobe test CA' \
      -keyout ca.key -out ca.crt >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj '/CN=localhost' \
      -keyout server-ec.key -out server.csr >/dev/null 2>&1 &&
    printf 'subjectAltName=DNS:localhost,DNS:mail.$DOMAIN,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext.cnf &&
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile ext.cnf \
      -out server-ec.crt >/dev/null 2>&1 &&
    chmod 0644 ca.crt server-ec.crt"
fi

as_root sh -c "id vmail >/dev/null 2>&1 || useradd --system --home-dir '$ROOT' --shell /usr/sbin/nologin vmail"
as_root mkdir -p "$ROOT/mail" "$ROOT/state" "$RUN"
as_root chown -R vmail:vmail "$ROOT/mail"
printf '%s@%s:{PLAIN}%s\n' probe "$DOMAIN" "$MAIL_PASS" vendor "$DOMAIN" "$MAIL_PASS" | as_root tee "$ROOT/users" >/dev/null
as_root chmod 0640 "$ROOT/users"; as_root chown root:dovecot "$ROOT/users"

# Dovecot: a private config, loopback only, plaintext auth (no TLS on loopback).
as_root tee "$ROOT/dovecot.conf" >/dev/null <<CONF
protocols = imap lmtp submission
hostname = mail.$DOMAIN
listen = 127.0.0.1
base_dir = $RUN
state_dir = $ROOT/state
instance_name = supportprobe-dovecot
log_path = $ROOT/dovecot.log
ssl = yes
ssl_cert = <$TLS/server-ec.crt
ssl_key = <$TLS/server-ec.key
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:$ROOT/mail/%d/%n/Maildir
mail_uid = vmail
mail_gid = vmail
first_valid_uid = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $ROOT/users
}
userdb {
  driver = static
  args = uid=vmail gid=vmail home=$ROOT/mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = $SMTP_STARTTLS_PORT
  }
  inet_listener submissions {
    address = 127.0.0.1
    port = $SMTPS_PORT
    ssl = yes
  }
}
submission_relay_host = 127.0.0.1
submission_relay_port = $SMTP_PORT
submission_relay_trusted = yes
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}
# probe+SP-XXXXXXXX@example.test is delivered to probe@example.test.
recipient_delimiter = +
CONF
# Daemons must not hold the caller's stdout, or a CI pipe never closes.
as_root dovecot -c "$ROOT/dovecot.conf" </dev/null >/dev/null 2>&1

# OpenSMTPD: loopback listener, every @example.test address to Dovecot.
[ -s /etc/mailname ] || echo "mail.$DOMAIN" | as_root tee /etc/mailname >/dev/null
as_root tee "$ROOT/smtpd.conf" >/dev/null <<CONF
listen on 127.0.0.1 port $SMTP_PORT hostname mail.$DOMAIN
table vdomains { "$DOMAIN" }
table vusers { "@$DOMAIN" = "vmail" }
action "to_dovecot" lmtp "$RUN/lmtp" rcpt-to virtual <vusers>
CONF
if [ -n "$RT_URL" ]; then as_root tee -a "$ROOT/smtpd.conf" >/dev/null <<CONF
table rtaddrs { "rt@$DOMAIN" }
action "to_rt" mda "/usr/bin/rt-mailgate --queue General --action correspond --url $RT_URL" virtual <vusers>
match from any for rcpt-to <rtaddrs> action "to_rt"
CONF
fi
echo "match from any for domain <vdomains> action \"to_dovecot\"" | as_root tee -a "$ROOT/smtpd.conf" >/dev/null
as_root smtpd -n -f "$ROOT/smtpd.conf" >/dev/null
# OpenSMTPD 6.8 has no pid file and no 'smtpctl stop': run it in the foreground, in the background.
as_root sh -c "smtpd -d -f '$ROOT/smtpd.conf' </dev/null >>'$ROOT/smtpd.log' 2>&1 & echo \$! > '$ROOT/smtpd.pid'"

for port in "$SMTP_PORT" "$SMTP_STARTTLS_PORT" "$SMTPS_PORT" "$IMAP_PORT" "$IMAPS_PORT"; do
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
  done
done
echo "mail stack: smtp 127.0.0.1:$SMTP_PORT (starttls+auth :$SMTP_STARTTLS_PORT, tls+auth :$SMTPS_PORT), imap 127.0.0.1:$IMAP_PORT (tls :$IMAPS_PORT), CA $TLS/ca.crt, users probe@ and vendor@$DOMAIN"
