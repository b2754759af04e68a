kw_old=$(systemctl show -p InvocationID --value kube-scheduler.service)
systemctl restart --no-block kube-scheduler.service
kw_n=0
while [ "$(systemctl show -p InvocationID --value kube-scheduler.service)" = "$kw_old" ] && [ $kw_n -lt 600 ]; do sleep 0.2; kw_n=$((kw_n + 1)); done
kw_end=$(( $(date +%s) + 180 ))
until ( curl -sf --max-time 3 --insecure https://127.0.0.1:10259/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "kube-scheduler.service on $(hostname) is not healthy (/healthz) after 180 s ($(systemctl is-active kube-scheduler.service))" >&2
    journalctl -u kube-scheduler.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health kube-scheduler.service'
