kw_old=$(systemctl show -p InvocationID --value kube-apiserver.service)
systemctl restart --no-block kube-apiserver.service
kw_n=0
while [ "$(systemctl show -p InvocationID --value kube-apiserver.service)" = "$kw_old" ] && [ $kw_n -lt 600 ]; do sleep 0.2; kw_n=$((kw_n + 1)); done
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
