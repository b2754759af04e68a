printf '\n@@kw cert %s\n' c0
( if [ -e /etc/kubernetes/pki/ca.crt ]; then stat -Lc %Y /etc/kubernetes/pki/ca.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/ca.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c1
( if [ -e /etc/kubernetes/pki/api-proxy.crt ]; then stat -Lc %Y /etc/kubernetes/pki/api-proxy.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/api-proxy.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c2
( if [ -e /etc/kubernetes/kube-proxy.conf ]; then stat -Lc %Y /etc/kubernetes/kube-proxy.conf; sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/kube-proxy.conf | head -n 1 | base64 -d | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c3
( if [ -e /var/lib/kubelet/pki/kubelet-client-current.pem ]; then stat -Lc %Y /var/lib/kubelet/pki/kubelet-client-current.pem; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /var/lib/kubelet/pki/kubelet-client-current.pem; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c4
( if [ -e /var/lib/kubelet/pki/kubelet-server-current.pem ]; then stat -Lc %Y /var/lib/kubelet/pki/kubelet-server-current.pem; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /var/lib/kubelet/pki/kubelet-server-current.pem; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' unit-haproxy.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix haproxy.service
) || true
printf '\n@@kw cert %s\n' unit-kube-proxy.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix kube-proxy.service
) || true
printf '\n@@kw cert %s\n' end
