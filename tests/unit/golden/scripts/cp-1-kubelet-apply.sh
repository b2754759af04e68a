set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes
mkdir -p /etc/kubernetes && chown root:root /etc/kubernetes && chmod 0755 /etc/kubernetes
echo '@@kw done 0'
# create directory /var/lib/kubelet
mkdir -p /var/lib/kubelet && chown root:root /var/lib/kubelet && chmod 0700 /var/lib/kubelet
echo '@@kw done 1'
# create directory /var/lib/kubelet/pki
mkdir -p /var/lib/kubelet/pki && chown root:root /var/lib/kubelet/pki && chmod 0700 /var/lib/kubelet/pki
echo '@@kw done 2'
# create /var/lib/kubelet/config.yaml (root:root 0644)
mkdir -p /var/lib/kubelet && tmp=$(mktemp /var/lib/kubelet/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /var/lib/kubelet/config.yaml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /etc/kubernetes/bootstrap-kubelet.conf (root:root 0600)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s YXBpVmVyc2lvbjogdjEKa2luZDogQ29uZmlnCiMgPHRva2VuPgo= | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/bootstrap-kubelet.conf || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# create /etc/systemd/system/kubelet.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kubelet.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 5'
# install iptables, conntrack, curl
apt-get update -qq && apt-get install -y -qq --no-install-recommends iptables conntrack curl >/dev/null
echo '@@kw done 6'
# enable kubelet.service
systemctl enable --quiet kubelet.service 2>/dev/null
echo '@@kw done 7'
systemctl daemon-reload
systemctl start --no-block kubelet.service
kw_end=$(( $(date +%s) + 180 ))
until ( curl -sf --max-time 3 http://127.0.0.1:10248/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kubelet.service on $(hostname) is not healthy after 180 s ($(systemctl is-active kubelet.service))" >&2
    journalctl -u kubelet.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kubelet.service'
