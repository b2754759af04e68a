kw_old=$(systemctl show -p InvocationID --value haproxy.service)
systemctl restart --no-block haproxy.service
kw_n=0
while [ "$(systemctl show -p InvocationID --value haproxy.service)" = "$kw_old" ] && [ $kw_n -lt 600 ]; do sleep 0.2; kw_n=$((kw_n + 1)); done
kw_end=$(( $(date +%s) + 60 ))
until ( curl -sf --max-time 3 http://127.0.0.1:8404/healthz >/dev/null ) >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$kw_end" ]; then
    echo "haproxy.service on $(hostname) is not serving after 60 s ($(systemctl is-active haproxy.service))" >&2
    journalctl -u haproxy.service -n 12 --no-pager -o cat 2>/dev/null | cut -c1-300 >&2
    exit 1
  fi
  sleep 0.5
done
echo '@@kw health haproxy.service'
