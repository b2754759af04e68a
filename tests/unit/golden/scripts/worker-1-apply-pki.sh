set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes/pki
mkdir -p /etc/kubernetes/pki && chown root:root /etc/kubernetes/pki && chmod 0755 /etc/kubernetes/pki
echo '@@kw done 0'
# create /etc/kubernetes/pki/ca.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/ca.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# create /etc/kubernetes/pki/api-proxy.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/api-proxy.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# create /etc/kubernetes/pki/api-proxy.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/api-proxy.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
