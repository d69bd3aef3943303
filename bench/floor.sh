#!/usr/bin/env bash
# The physical floor: the same work berth's full stack does on one fresh host,
# as a plain shell script with no checks, no idempotence and no rollback.
# Runs INSIDE a fresh test container (bench/run.sh copies it, the sample app and
# the signed TEST STAND-IN datadog-agent mirror in).
#   apt: nginx + python3-venv + the stand-in datadog-agent from its signed mirror
#   (keyring + signed-by= source, one apt-get update for both); a venv with the
#   app's pinned requirements; a gunicorn systemd unit; an Nginx site; the agent's
#   config with the registry ports; start all; wait until app and agent answer.
# Usage (in the container): floor.sh [APP_SRC] [MIRROR_DIR]
set -euo pipefail
APP_SRC=${1:-/opt/bench/hbnb}
MIRROR=${2:-/srv/datadog-standin-mirror}
# The sandbox registry's values (inventories/sandbox/group_vars/all/ports.yml).
APP_PORT=8000 EXPVAR_PORT=5000 CMD_PORT=5001 DOGSTATSD_PORT=8125
APM_PORT=8126 APM_DEBUG_PORT=5012 PROC_EXPVAR_PORT=6062 PROC_CMD_PORT=6162
AGENT_VERSION="1:7.99.0-1~berthstandin"
export DEBIAN_FRONTEND=noninteractive

# Stand-in Datadog repository: keyring from the mirror's key, signed-by= source.
keyring=/usr/share/keyrings/datadog-archive-keyring.gpg
gpg --batch --yes --dearmor -o "$keyring" "$MIRROR/berth-standin-archive-key.asc"
echo "deb [signed-by=$keyring] file:$MIRROR stable 7" >/etc/apt/sources.list.d/datadog.list

apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx python3-venv \
  "datadog-agent=$AGENT_VERSION" >/dev/null

id hbnb >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin hbnb
rel=/srv/hbnb/releases/floor
mkdir -p "$rel"
cp -r "$APP_SRC"/. "$rel"/
# The venv without a pip of its own, Debian's pip wheel installing into it (what berth does).
python3 -m venv --without-pip "$rel/venv"
wheels=(/usr/share/python-wheels/pip-*.whl)
"$rel/venv/bin/python" "${wheels[-1]}/pip" install -q --disable-pip-version-check -r "$rel/requirements.txt"
ln -sfn "$rel" /srv/hbnb/current

cat >/etc/systemd/system/flask-app.service <<UNIT
[Unit]
Description=hbnb (floor)
After=network.target
[Service]
User=hbnb
WorkingDirectory=/srv/hbnb/current
ExecStart=/srv/hbnb/current/venv/bin/gunicorn --bind 127.0.0.1:$APP_PORT web_flask.0-hello_route:app
Restart=on-failure
[Install]
WantedBy=multi-user.target
UNIT

cat >/etc/nginx/sites-available/hbnb <<SITE
server {
    listen 80 default_server;
    location / { proxy_pass http://127.0.0.1:$APP_PORT; }
}
SITE
rm -f /etc/nginx/sites-enabled/default
ln -sfn /etc/nginx/sites-available/hbnb /etc/nginx/sites-enabled/hbnb

cat >/etc/datadog-agent/datadog.yaml <<AGENT
api_key: floor
site: datadoghq.com
bind_host: 127.0.0.1
cmd_host: 127.0.0.1
expvar_port: $EXPVAR_PORT
cmd_port: $CMD_PORT
dogstatsd_port: $DOGSTATSD_PORT
apm_config:
  receiver_port: $APM_PORT
  debug:
    port: $APM_DEBUG_PORT
process_config:
  expvar_port: $PROC_EXPVAR_PORT
  cmd_port: $PROC_CMD_PORT
AGENT

systemctl daemon-reload
systemctl enable --now flask-app >/dev/null 2>&1
systemctl reload-or-restart nginx
systemctl enable datadog-agent >/dev/null 2>&1
systemctl restart datadog-agent
for _ in $(seq 1 600); do   # up to 120 s: with a fleet the hosts share the cores
  if curl -fsS http://127.0.0.1/airbnb-onepage/ >/dev/null 2>&1 &&
     curl -fsS "http://127.0.0.1:$EXPVAR_PORT/debug/vars" >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.2
done
echo "floor: the app (through nginx) or the agent did not answer" >&2
exit 1
