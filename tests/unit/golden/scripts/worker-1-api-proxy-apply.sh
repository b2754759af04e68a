set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/haproxy
mkdir -p /etc/haproxy && chown root:root /etc/haproxy && chmod 0755 /etc/haproxy
echo '@@kw done 0'
# create /etc/haproxy/kubeward.cfg (root:root 0644)
mkdir -p /etc/haproxy && tmp=$(mktemp /etc/haproxy/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/haproxy/kubeward.cfg || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# create /etc/systemd/system/haproxy.service.d/kubeward.conf (root:root 0644)
mkdir -p /etc/systemd/system/haproxy.service.d && tmp=$(mktemp /etc/systemd/system/haproxy.service.d/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/haproxy.service.d/kubeward.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# install haproxy, curl
apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy curl >/dev/null
echo '@@kw done 3'
# enable haproxy.service
systemctl enable --quiet haproxy.service 2>/dev/null
echo '@@kw done 4'
systemctl daemon-reload
systemctl start --no-block haproxy.service
kw_end=$(( $(date +%s) + 60 ))
until ( curl -sf --max-time 3 http://127.0.0.1:8404/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "haproxy.service on $(hostname) is not serving after 60 s ($(systemctl is-active haproxy.service))" >&2
    journalctl -u haproxy.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health haproxy.service'
