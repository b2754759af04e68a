printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki
( if [ -e /etc/kubernetes/pki ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki; sha256sum /etc/kubernetes/pki | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/ca.crt; sha256sum /etc/kubernetes/pki/ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/api-proxy.crt
( if [ -e /etc/kubernetes/pki/api-proxy.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/api-proxy.crt; sha256sum /etc/kubernetes/pki/api-proxy.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/api-proxy.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/api-proxy.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/api-proxy.key
( if [ -e /etc/kubernetes/pki/api-proxy.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/api-proxy.key; sha256sum /etc/kubernetes/pki/api-proxy.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet-client.crt
( [ -e /var/lib/kubelet/pki/kubelet-client.crt ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet-client.key
( [ -e /var/lib/kubelet/pki/kubelet-client.key ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet.crt
( [ -e /var/lib/kubelet/pki/kubelet.crt ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' absent:/var/lib/kubelet/pki/kubelet.key
( [ -e /var/lib/kubelet/pki/kubelet.key ] && echo present || echo absent
) 2>&1 || true
printf '\n@@kw fact %s\n' end
