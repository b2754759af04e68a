set -u
# kubeward node remove cp-1: stop what kubeward runs here
if systemctl cat kube-apiserver.service >/dev/null 2>&1; then systemctl disable --now --quiet kube-apiserver.service 2>/dev/null || systemctl stop kube-apiserver.service; systemctl reset-failed kube-apiserver.service 2>/dev/null; fi
if systemctl cat kube-controller-manager.service >/dev/null 2>&1; then systemctl disable --now --quiet kube-controller-manager.service 2>/dev/null || systemctl stop kube-controller-manager.service; systemctl reset-failed kube-controller-manager.service 2>/dev/null; fi
if systemctl cat kube-scheduler.service >/dev/null 2>&1; then systemctl disable --now --quiet kube-scheduler.service 2>/dev/null || systemctl stop kube-scheduler.service; systemctl reset-failed kube-scheduler.service 2>/dev/null; fi
systemctl disable --now etcd >/dev/null 2>&1 || true
if [ -d /var/lib/etcd ] && [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; then mv /var/lib/etcd /var/lib/etcd.kubeward-s1 && echo @@moved /var/lib/etcd.kubeward-s1; fi
rm -f /etc/systemd/system/etcd.service.d/10-kubeward.conf /etc/etcd/kubeward.yaml
systemctl daemon-reload
echo @@decommissioned
systemctl reset-failed etcd 2>/dev/null
if systemctl cat kubelet.service >/dev/null 2>&1; then systemctl disable --now --quiet kubelet.service 2>/dev/null || systemctl stop kubelet.service; systemctl reset-failed kubelet.service 2>/dev/null; fi
if systemctl cat kube-proxy.service >/dev/null 2>&1; then systemctl disable --now --quiet kube-proxy.service 2>/dev/null || systemctl stop kube-proxy.service; systemctl reset-failed kube-proxy.service 2>/dev/null; fi
if command -v ctr >/dev/null 2>&1 && systemctl is-active -q containerd; then
  for t in $(ctr -n k8s.io tasks ls -q 2>/dev/null); do ctr -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
fi
if [ -f /etc/haproxy/kubeward.cfg ]; then if systemctl cat haproxy.service >/dev/null 2>&1; then systemctl disable --now --quiet haproxy.service 2>/dev/null || systemctl stop haproxy.service; systemctl reset-failed haproxy.service 2>/dev/null; fi; fi
if systemctl cat kubeward-pod-network.service >/dev/null 2>&1; then systemctl disable --now --quiet kubeward-pod-network.service 2>/dev/null || systemctl stop kubeward-pod-network.service; systemctl reset-failed kubeward-pod-network.service 2>/dev/null; fi
ip -4 route flush proto 77 2>/dev/null || true
nft delete table ip kubeward_pods 2>/dev/null || true
if systemctl cat containerd.service >/dev/null 2>&1; then systemctl disable --now --quiet containerd.service 2>/dev/null || systemctl stop containerd.service; systemctl reset-failed containerd.service 2>/dev/null; fi
for u in kube-apiserver.service kube-controller-manager.service kube-scheduler.service kubelet.service kube-proxy.service kubeward-pod-network.service containerd.service etcd; do systemctl is-active -q "$u" && echo "@@still-active $u"; done
[ -f /etc/haproxy/kubeward.cfg ] && systemctl is-active -q haproxy.service && echo "@@still-active haproxy.service"
echo @@retired
