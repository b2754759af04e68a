set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# create directory /etc/kubernetes/pki
mkdir -p /etc/kubernetes/pki && chown root:root /etc/kubernetes/pki && chmod 0755 /etc/kubernetes/pki
echo '@@kw done 0'
# create directory /etc/kubernetes/pki/etcd
mkdir -p /etc/kubernetes/pki/etcd && chown root:root /etc/kubernetes/pki/etcd && chmod 0755 /etc/kubernetes/pki/etcd
echo '@@kw done 1'
# create /etc/kubernetes/pki/ca.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/ca.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 2'
# create /etc/kubernetes/pki/api-proxy.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/api-proxy.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 3'
# create /etc/kubernetes/pki/api-proxy.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/api-proxy.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 4'
# create /etc/kubernetes/pki/etcd/ca.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/ca.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 5'
# create /etc/kubernetes/pki/etcd/server.crt (etcd:etcd 0644)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown etcd:etcd "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/server.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 6'
# create /etc/kubernetes/pki/etcd/server.key (etcd:etcd 0600)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown etcd:etcd "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/server.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 7'
# create /etc/kubernetes/pki/etcd/peer.crt (etcd:etcd 0644)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown etcd:etcd "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/peer.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 8'
# create /etc/kubernetes/pki/etcd/peer.key (etcd:etcd 0600)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown etcd:etcd "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/peer.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 9'
# create /etc/kubernetes/pki/etcd/healthcheck-client.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/healthcheck-client.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 10'
# create /etc/kubernetes/pki/etcd/healthcheck-client.key (root:root 0600)
mkdir -p /etc/kubernetes/pki/etcd && tmp=$(mktemp /etc/kubernetes/pki/etcd/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/etcd/healthcheck-client.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 11'
# create /etc/kubernetes/pki/apiserver.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 12'
# create /etc/kubernetes/pki/apiserver.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 13'
# create /etc/kubernetes/pki/apiserver-kubelet-client.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver-kubelet-client.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 14'
# create /etc/kubernetes/pki/apiserver-kubelet-client.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver-kubelet-client.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 15'
# create /etc/kubernetes/pki/apiserver-etcd-client.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver-etcd-client.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 16'
# create /etc/kubernetes/pki/apiserver-etcd-client.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/apiserver-etcd-client.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 17'
# create /etc/kubernetes/pki/front-proxy-ca.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/front-proxy-ca.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 18'
# create /etc/kubernetes/pki/kubelet-signer.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/kubelet-signer.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 19'
# create /etc/kubernetes/pki/kubelet-signer.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/kubelet-signer.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 20'
# create /etc/kubernetes/pki/controller-manager-serving.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/controller-manager-serving.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 21'
# create /etc/kubernetes/pki/controller-manager-serving.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/controller-manager-serving.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 22'
# create /etc/kubernetes/pki/scheduler-serving.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/scheduler-serving.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 23'
# create /etc/kubernetes/pki/scheduler-serving.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/scheduler-serving.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 24'
# create /etc/kubernetes/pki/front-proxy-client.crt (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/front-proxy-client.crt || { rm -f "$tmp"; exit 1; }
echo '@@kw done 25'
# create /etc/kubernetes/pki/front-proxy-client.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/front-proxy-client.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 26'
# create /etc/kubernetes/pki/sa.key (root:root 0600)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/sa.key || { rm -f "$tmp"; exit 1; }
echo '@@kw done 27'
# create /etc/kubernetes/pki/sa.pub (root:root 0644)
mkdir -p /etc/kubernetes/pki && tmp=$(mktemp /etc/kubernetes/pki/.kubeward.XXXXXX) && printf %s <base64> | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/kubernetes/pki/sa.pub || { rm -f "$tmp"; exit 1; }
echo '@@kw done 28'
