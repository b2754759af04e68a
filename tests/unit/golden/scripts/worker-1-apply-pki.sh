set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes/pki
mkdir -p /etc/kubernetes/pki && chown root:root /etc/kubernetes/pki && chmod 0755 /etc/kubernetes/pki
echo '@@kw done 0'
# create directory /var/lib/kubelet/pki
mkdir -p /var/lib/kubelet/pki && chown root:root /var/lib/kubelet/pki && chmod 0755 /var/lib/kubelet/pki
echo '@@kw done 1'
# create /etc/kubernetes/pki/ca.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/ca.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# create /var/lib/kubelet/pki/kubelet-client.crt (root:root 0644)
mkdir -p /var/lib/kubelet/pki && tmp=$(mktemp /var/lib/kubelet/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /var/lib/kubelet/pki/kubelet-client.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /var/lib/kubelet/pki/kubelet-client.key (root:root 0600)
mkdir -p /var/lib/kubelet/pki && tmp=$(mktemp /var/lib/kubelet/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /var/lib/kubelet/pki/kubelet-client.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# create /var/lib/kubelet/pki/kubelet.crt (root:root 0644)
mkdir -p /var/lib/kubelet/pki && tmp=$(mktemp /var/lib/kubelet/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /var/lib/kubelet/pki/kubelet.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 5'
# create /var/lib/kubelet/pki/kubelet.key (root:root 0600)
mkdir -p /var/lib/kubelet/pki && tmp=$(mktemp /var/lib/kubelet/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /var/lib/kubelet/pki/kubelet.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 6'
