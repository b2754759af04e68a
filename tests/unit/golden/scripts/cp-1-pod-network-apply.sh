set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/cni/net.d
mkdir -p /etc/cni/net.d && chown root:root /etc/cni/net.d && chmod 0755 /etc/cni/net.d
echo '@@kw done 0'
# create directory /usr/local/lib/kubeward
mkdir -p /usr/local/lib/kubeward && chown root:root /usr/local/lib/kubeward && chmod 0755 /usr/local/lib/kubeward
echo '@@kw done 1'
# create /etc/cni/net.d/10-kubeward.conflist (root:root 0644)
mkdir -p /etc/cni/net.d && tmp=$(mktemp /etc/cni/net.d/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/cni/net.d/10-kubeward.conflist || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# create /usr/local/lib/kubeward/pod-network.sh (root:root 0755)
mkdir -p /usr/local/lib/kubeward && tmp=$(mktemp /usr/local/lib/kubeward/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" /usr/local/lib/kubeward/pod-network.sh || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /etc/systemd/system/kubeward-pod-network.service (root:root 0644)
mkdir -p /etc/systemd/system && tmp=$(mktemp /etc/systemd/system/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/systemd/system/kubeward-pod-network.service || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# enable kubeward-pod-network.service
systemctl enable --quiet kubeward-pod-network.service 2>/dev/null
echo '@@kw done 5'
systemctl daemon-reload
systemctl start --no-block kubeward-pod-network.service
