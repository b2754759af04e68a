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
printf '\n@@kw fact %s\n' dir:/etc/kubernetes
( if [ -e /etc/kubernetes ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes; sha256sum /etc/kubernetes | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' dir:/var/log/kubernetes
( if [ -e /var/log/kubernetes ]; then stat -c '%F|%U|%G|%a' /var/log/kubernetes; sha256sum /var/log/kubernetes | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' dir:/var/log/kubernetes/audit
( if [ -e /var/log/kubernetes/audit ]; then stat -c '%F|%U|%G|%a' /var/log/kubernetes/audit; sha256sum /var/log/kubernetes/audit | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/ca-bundle.crt
( if [ -e /etc/kubernetes/pki/ca-bundle.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/ca-bundle.crt; sha256sum /etc/kubernetes/pki/ca-bundle.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/ca-bundle.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/ca-bundle.crt; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/encryption-config.yaml
( if [ -e /etc/kubernetes/encryption-config.yaml ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/encryption-config.yaml; sha256sum /etc/kubernetes/encryption-config.yaml | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/audit-policy.yaml
( if [ -e /etc/kubernetes/audit-policy.yaml ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/audit-policy.yaml; sha256sum /etc/kubernetes/audit-policy.yaml | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/audit-policy.yaml) -le 262144 ]; then base64 -w0 /etc/kubernetes/audit-policy.yaml; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/systemd/system/kube-apiserver.service
( if [ -e /etc/systemd/system/kube-apiserver.service ]; then stat -c '%F|%U|%G|%a' /etc/systemd/system/kube-apiserver.service; sha256sum /etc/systemd/system/kube-apiserver.service | cut -d' ' -f1; if [ $(stat -c %s /etc/systemd/system/kube-apiserver.service) -le 262144 ]; then base64 -w0 /etc/systemd/system/kube-apiserver.service; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' packages:curl
( dpkg-query -W -f='${Package} ${db:Status-Status}\n' curl 2>/dev/null
) || true
printf '\n@@kw fact %s\n' service:kube-apiserver.service
( e=$(systemctl is-enabled kube-apiserver.service 2>/dev/null); echo "${e:-missing}"; a=$(systemctl is-active kube-apiserver.service 2>/dev/null); echo "${a:-unknown}"
) || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/controller-manager.conf
( if [ -e /etc/kubernetes/controller-manager.conf ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/controller-manager.conf; sha256sum /etc/kubernetes/controller-manager.conf | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/systemd/system/kube-controller-manager.service
( if [ -e /etc/systemd/system/kube-controller-manager.service ]; then stat -c '%F|%U|%G|%a' /etc/systemd/system/kube-controller-manager.service; sha256sum /etc/systemd/system/kube-controller-manager.service | cut -d' ' -f1; if [ $(stat -c %s /etc/systemd/system/kube-controller-manager.service) -le 262144 ]; then base64 -w0 /etc/systemd/system/kube-controller-manager.service; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' service:kube-controller-manager.service
( e=$(systemctl is-enabled kube-controller-manager.service 2>/dev/null); echo "${e:-missing}"; a=$(systemctl is-active kube-controller-manager.service 2>/dev/null); echo "${a:-unknown}"
) || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/scheduler.conf
( if [ -e /etc/kubernetes/scheduler.conf ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/scheduler.conf; sha256sum /etc/kubernetes/scheduler.conf | cut -d' ' -f1; echo; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' file:/etc/systemd/system/kube-scheduler.service
( if [ -e /etc/systemd/system/kube-scheduler.service ]; then stat -c '%F|%U|%G|%a' /etc/systemd/system/kube-scheduler.service; sha256sum /etc/systemd/system/kube-scheduler.service | cut -d' ' -f1; if [ $(stat -c %s /etc/systemd/system/kube-scheduler.service) -le 262144 ]; then base64 -w0 /etc/systemd/system/kube-scheduler.service; echo; else echo big; fi; else echo absent; fi
) || true
printf '\n@@kw fact %s\n' service:kube-scheduler.service
( e=$(systemctl is-enabled kube-scheduler.service 2>/dev/null); echo "${e:-missing}"; a=$(systemctl is-active kube-scheduler.service 2>/dev/null); echo "${a:-unknown}"
) || true
printf '\n@@kw fact %s\n' end
