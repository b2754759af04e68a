kw_old=$(systemctl show -p MainPID --value kubelet.service)
systemctl restart --no-block kubelet.service
kw_end=$(( $(date +%s) + 120 ))
until ( p=$(systemctl show -p MainPID --value kubelet.service); [ "$p" != 0 ] && [ "$p" != "$kw_old" ] && [ "$(readlink /proc/$p/exe)" = /opt/kubeward/kubernetes/v1.20.2/bin/kubelet ] ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kubelet.service on $(hostname) is not running /opt/kubeward/kubernetes/v1.20.2/bin/kubelet after 120 s ($(systemctl is-active kubelet.service))" >&2
    journalctl -u kubelet.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
