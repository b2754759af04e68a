set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/containerd
mkdir -p /etc/containerd && chown root:root /etc/containerd && chmod 0755 /etc/containerd
echo '@@kw done 0'
# create /etc/containerd/config.toml (root:root 0644)
mkdir -p /etc/containerd && tmp=$(mktemp /etc/containerd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/containerd/config.toml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# install containerd, runc, containernetworking-plugins
printf 'Dpkg::Options { "--force-confold"; };\n' > /run/kubeward-apt-confold.conf
( export APT_CONFIG=/run/kubeward-apt-confold.conf
apt-get update -qq && apt-get install -y -qq --no-install-recommends containerd runc containernetworking-plugins >/dev/null
)
echo '@@kw done 2'
# enable containerd.service
systemctl enable --quiet containerd.service 2>/dev/null
echo '@@kw done 3'
systemctl daemon-reload
systemctl start --no-block containerd.service
kw_end=$(( $(date +%s) + 60 ))
until ( ctr version >/dev/null 2>&1 ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "containerd.service on $(hostname) is not serving CRI after 60 s ($(systemctl is-active containerd.service))" >&2
    journalctl -u containerd.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health containerd.service'
