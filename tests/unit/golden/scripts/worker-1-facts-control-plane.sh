printf '\n@@kw fact %s\n' dir:/etc/haproxy
( if [ -e /etc/haproxy ]; then stat -c '%F|%U|%G|%a' /etc/haproxy; sha256sum /etc/haproxy | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/haproxy/kubeward.cfg
( if [ -e /etc/haproxy/kubeward.cfg ]; then stat -c '%F|%U|%G|%a' /etc/haproxy/kubeward.cfg; sha256sum /etc/haproxy/kubeward.cfg | cut -d' ' -f1; if [ $(stat -c %s /etc/haproxy/kubeward.cfg) -le 262144 ]; then base64 -w0 /etc/haproxy/kubeward.cfg; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/systemd/system/haproxy.service.d/kubeward.conf
( if [ -e /etc/systemd/system/haproxy.service.d/kubeward.conf ]; then stat -c '%F|%U|%G|%a' /etc/systemd/system/haproxy.service.d/kubeward.conf; sha256sum /etc/systemd/system/haproxy.service.d/kubeward.conf | cut -d' ' -f1; if [ $(stat -c %s /etc/systemd/system/haproxy.service.d/kubeward.conf) -le 262144 ]; then base64 -w0 /etc/systemd/system/haproxy.service.d/kubeward.conf; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' packages:haproxy,curl
( dpkg-query -W -f='${Package} ${db:Status-Status}\n' haproxy curl 2>/dev/null
) || true
printf '\n@@kw fact %s\n' service:haproxy.service
( e=$(systemctl is-enabled haproxy.service 2>/dev/null); echo "${e:-missing}"; a=$(systemctl is-active haproxy.service 2>/dev/null); echo "${a:-unknown}"
) || true
printf '\n@@kw fact %s\n' end
