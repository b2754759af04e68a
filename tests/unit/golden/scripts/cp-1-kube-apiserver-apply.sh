set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes
mkdir -p /etc/kubernetes && chown root:root /etc/kubernetes && chmod 0755 /etc/kubernetes
echo '@@kw done 0'
# create directory /var/log/kubernetes
mkdir -p /var/log/kubernetes && chown root:root /var/log/kubernetes && chmod 0700 /var/log/kubernetes
echo '@@kw done 1'
# create directory /var/log/kubernetes/audit
mkdir -p /var/log/kubernetes/audit && chown root:root /var/log/kubernetes/audit && chmod 0700 /var/log/kubernetes/audit
echo '@@kw done 2'
# create /etc/kubernetes/pki/ca-bundle.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s LS0tLS1DQS0tLS0tCi0tLS0tU0lHTkVSLS0tLS0K | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/ca-bundle.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /etc/kubernetes/encryption-config.yaml (root:root 0600)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/encryption-config.yaml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# create /etc/kubernetes/audit-policy.yaml (root:root 0644)
mkdir -p /etc/kubernetes && tmp=$(mktemp /etc/kubernetes/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/audit-policy.yaml || { rm -f "$tmp"; exit 1; }
echo '@@kw done 5'
# create /etc/systemd/system/kube-apiserver.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kube-apiserver.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 6'
# install curl
apt-get update -qq && apt-get install -y -qq --no-install-recommends curl >/dev/null
echo '@@kw done 7'
# enable kube-apiserver.service
systemctl enable --quiet kube-apiserver.service 2>/dev/null
echo '@@kw done 8'
systemctl daemon-reload
systemctl start --no-block kube-apiserver.service
kw_end=$(( $(date +%s) + 180 ))
until ( curl -sf --max-time 3 --cacert /etc/kubernetes/pki/ca.crt --cert /etc/kubernetes/pki/apiserver-kubelet-client.crt --key /etc/kubernetes/pki/apiserver-kubelet-client.key https://10.0.0.10:6443/readyz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kube-apiserver.service on $(hostname) is not ready (/readyz) after 180 s ($(systemctl is-active kube-apiserver.service))" >&2
    journalctl -u kube-apiserver.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kube-apiserver.service'
