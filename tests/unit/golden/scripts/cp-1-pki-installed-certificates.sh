printf '\n@@kw cert %s\n' c0
( if [ -e /etc/kubernetes/pki/ca.crt ]; then stat -Lc %Y /etc/kubernetes/pki/ca.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/ca.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c1
( if [ -e /etc/kubernetes/pki/api-proxy.crt ]; then stat -Lc %Y /etc/kubernetes/pki/api-proxy.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/api-proxy.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c2
( if [ -e /etc/kubernetes/pki/etcd/ca.crt ]; then stat -Lc %Y /etc/kubernetes/pki/etcd/ca.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/etcd/ca.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c3
( if [ -e /etc/kubernetes/pki/etcd/server.crt ]; then stat -Lc %Y /etc/kubernetes/pki/etcd/server.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/etcd/server.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c4
( if [ -e /etc/kubernetes/pki/etcd/peer.crt ]; then stat -Lc %Y /etc/kubernetes/pki/etcd/peer.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/etcd/peer.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c5
( if [ -e /etc/kubernetes/pki/etcd/healthcheck-client.crt ]; then stat -Lc %Y /etc/kubernetes/pki/etcd/healthcheck-client.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/etcd/healthcheck-client.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c6
( if [ -e /etc/kubernetes/pki/apiserver.crt ]; then stat -Lc %Y /etc/kubernetes/pki/apiserver.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/apiserver.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c7
( if [ -e /etc/kubernetes/pki/apiserver-kubelet-client.crt ]; then stat -Lc %Y /etc/kubernetes/pki/apiserver-kubelet-client.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/apiserver-kubelet-client.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c8
( if [ -e /etc/kubernetes/pki/apiserver-etcd-client.crt ]; then stat -Lc %Y /etc/kubernetes/pki/apiserver-etcd-client.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/apiserver-etcd-client.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c9
( if [ -e /etc/kubernetes/pki/front-proxy-ca.crt ]; then stat -Lc %Y /etc/kubernetes/pki/front-proxy-ca.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/front-proxy-ca.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c10
( if [ -e /etc/kubernetes/pki/kubelet-signer.crt ]; then stat -Lc %Y /etc/kubernetes/pki/kubelet-signer.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/kubelet-signer.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c11
( if [ -e /etc/kubernetes/pki/controller-manager-serving.crt ]; then stat -Lc %Y /etc/kubernetes/pki/controller-manager-serving.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/controller-manager-serving.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c12
( if [ -e /etc/kubernetes/pki/scheduler-serving.crt ]; then stat -Lc %Y /etc/kubernetes/pki/scheduler-serving.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/scheduler-serving.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c13
( if [ -e /etc/kubernetes/pki/front-proxy-client.crt ]; then stat -Lc %Y /etc/kubernetes/pki/front-proxy-client.crt; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /etc/kubernetes/pki/front-proxy-client.crt; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c14
( if [ -e /etc/kubernetes/controller-manager.conf ]; then stat -Lc %Y /etc/kubernetes/controller-manager.conf; sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/controller-manager.conf | head -n 1 | base64 -d | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c15
( if [ -e /etc/kubernetes/scheduler.conf ]; then stat -Lc %Y /etc/kubernetes/scheduler.conf; sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/scheduler.conf | head -n 1 | base64 -d | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c16
( if [ -e /etc/kubernetes/kube-proxy.conf ]; then stat -Lc %Y /etc/kubernetes/kube-proxy.conf; sed -n 's/^ *client-certificate-data: *//p' /etc/kubernetes/kube-proxy.conf | head -n 1 | base64 -d | sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p'; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c17
( if [ -e /var/lib/kubelet/pki/kubelet-client-current.pem ]; then stat -Lc %Y /var/lib/kubelet/pki/kubelet-client-current.pem; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /var/lib/kubelet/pki/kubelet-client-current.pem; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' c18
( if [ -e /var/lib/kubelet/pki/kubelet-server-current.pem ]; then stat -Lc %Y /var/lib/kubelet/pki/kubelet-server-current.pem; sed -n '/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p' /var/lib/kubelet/pki/kubelet-server-current.pem; else echo absent; fi
) || true
printf '\n@@kw cert %s\n' unit-kube-controller-manager.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix kube-controller-manager.service
) || true
printf '\n@@kw cert %s\n' unit-haproxy.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix haproxy.service
) || true
printf '\n@@kw cert %s\n' unit-etcd
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix etcd
) || true
printf '\n@@kw cert %s\n' unit-kube-apiserver.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix kube-apiserver.service
) || true
printf '\n@@kw cert %s\n' unit-kube-scheduler.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix kube-scheduler.service
) || true
printf '\n@@kw cert %s\n' unit-kube-proxy.service
( systemctl show -p ActiveState -p ExecMainStartTimestamp --timestamp=unix kube-proxy.service
) || true
printf '\n@@kw cert %s\n' end
