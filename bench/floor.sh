#!/usr/bin/env bash
# The physical floor: the same work berth's full stack does on one fresh host,
# as a plain shell script with no checks, no idempotence and no rollback.
# Runs INSIDE a fresh test container (bench/run.sh copies it and the sample app in).
#   apt: nginx + python3-venv; a venv with the app's pinned requirements;
#   a gunicorn systemd unit; an Nginx site; an agent-style config; start all.
set -euo pipefail
APP_SRC=${1:-/tmp/hbnb}
APP_PORT=${2:-8000}
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx python3-venv >/dev/null

id hbnb >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin hbnb
rel=/srv/hbnb/releases/floor
mkdir -p "$rel"
cp -r "$APP_SRC"/. "$rel"/
python3 -m venv "$rel/venv"
"$rel/venv/bin/pip" install -q -r "$rel/requirements.txt"
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

mkdir -p /etc/datadog-agent
printf 'api_key: floor\nexpvar_port: 5000\ncmd_port: 5001\n' >/etc/datadog-agent/datadog.yaml

systemctl daemon-reload
systemctl enable --now flask-app >/dev/null 2>&1
systemctl reload-or-restart nginx
for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1/airbnb-onepage/ >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "floor: the app did not answer through nginx" >&2
exit 1
