set -e
mkdir -p -m 0700 /var/lib/kubeward/artifact-sums
printf '%s %s\n' "$(stat -c '%s %Y %i' /opt/kubeward/kubernetes/v1.20.2/bin/kubelet.kubeward-staged)" <sha256> > /var/lib/kubeward/artifact-sums/opt_kubeward_kubernetes_v1.20.2_bin_kubelet.kubeward-staged
ln -f /opt/kubeward/kubernetes/v1.20.2/bin/kube-proxy.kubeward-previous /opt/kubeward/kubernetes/v1.20.2/bin/kube-proxy.kubeward-staged
cp /var/lib/kubeward/artifact-sums/opt_kubeward_kubernetes_v1.20.2_bin_kube-proxy.kubeward-previous /var/lib/kubeward/artifact-sums/opt_kubeward_kubernetes_v1.20.2_bin_kube-proxy.kubeward-staged
