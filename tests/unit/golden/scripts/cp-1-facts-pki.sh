printf '\n@@kw fact %s\n' system-user:etcd
( getent passwd etcd
) 2>&1 || true
printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki
( if [ -e /etc/kubernetes/pki ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki; sha256sum /etc/kubernetes/pki | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki/etcd
( if [ -e /etc/kubernetes/pki/etcd ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd; sha256sum /etc/kubernetes/pki/etcd | cut -d' ' -f1; echo; else echo absent; fi
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
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/etcd/ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/ca.crt; sha256sum /etc/kubernetes/pki/etcd/ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/server.crt
( if [ -e /etc/kubernetes/pki/etcd/server.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/server.crt; sha256sum /etc/kubernetes/pki/etcd/server.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/server.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/server.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/server.key
( if [ -e /etc/kubernetes/pki/etcd/server.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/server.key; sha256sum /etc/kubernetes/pki/etcd/server.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/peer.crt
( if [ -e /etc/kubernetes/pki/etcd/peer.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/peer.crt; sha256sum /etc/kubernetes/pki/etcd/peer.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/peer.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/peer.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/peer.key
( if [ -e /etc/kubernetes/pki/etcd/peer.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/peer.key; sha256sum /etc/kubernetes/pki/etcd/peer.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/healthcheck-client.crt
( if [ -e /etc/kubernetes/pki/etcd/healthcheck-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/healthcheck-client.crt; sha256sum /etc/kubernetes/pki/etcd/healthcheck-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/etcd/healthcheck-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/etcd/healthcheck-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/etcd/healthcheck-client.key
( if [ -e /etc/kubernetes/pki/etcd/healthcheck-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/etcd/healthcheck-client.key; sha256sum /etc/kubernetes/pki/etcd/healthcheck-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver.crt
( if [ -e /etc/kubernetes/pki/apiserver.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver.crt; sha256sum /etc/kubernetes/pki/apiserver.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver.key
( if [ -e /etc/kubernetes/pki/apiserver.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver.key; sha256sum /etc/kubernetes/pki/apiserver.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-kubelet-client.crt
( if [ -e /etc/kubernetes/pki/apiserver-kubelet-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-kubelet-client.crt; sha256sum /etc/kubernetes/pki/apiserver-kubelet-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver-kubelet-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver-kubelet-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-kubelet-client.key
( if [ -e /etc/kubernetes/pki/apiserver-kubelet-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-kubelet-client.key; sha256sum /etc/kubernetes/pki/apiserver-kubelet-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-etcd-client.crt
( if [ -e /etc/kubernetes/pki/apiserver-etcd-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-etcd-client.crt; sha256sum /etc/kubernetes/pki/apiserver-etcd-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/apiserver-etcd-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/apiserver-etcd-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/apiserver-etcd-client.key
( if [ -e /etc/kubernetes/pki/apiserver-etcd-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/apiserver-etcd-client.key; sha256sum /etc/kubernetes/pki/apiserver-etcd-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-ca.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/front-proxy-ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-ca.crt; sha256sum /etc/kubernetes/pki/front-proxy-ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/front-proxy-ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/front-proxy-ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/kubelet-signer.crt
( printf 'active:'; for u in etcd kube-apiserver kubelet; do systemctl is-active -q "$u" 2>/dev/null && printf ' %s' "$u"; done; echo
if [ -e /etc/kubernetes/pki/kubelet-signer.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/kubelet-signer.crt; sha256sum /etc/kubernetes/pki/kubelet-signer.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/kubelet-signer.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/kubelet-signer.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/kubelet-signer.key
( if [ -e /etc/kubernetes/pki/kubelet-signer.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/kubelet-signer.key; sha256sum /etc/kubernetes/pki/kubelet-signer.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/controller-manager-serving.crt
( if [ -e /etc/kubernetes/pki/controller-manager-serving.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/controller-manager-serving.crt; sha256sum /etc/kubernetes/pki/controller-manager-serving.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/controller-manager-serving.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/controller-manager-serving.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/controller-manager-serving.key
( if [ -e /etc/kubernetes/pki/controller-manager-serving.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/controller-manager-serving.key; sha256sum /etc/kubernetes/pki/controller-manager-serving.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/scheduler-serving.crt
( if [ -e /etc/kubernetes/pki/scheduler-serving.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/scheduler-serving.crt; sha256sum /etc/kubernetes/pki/scheduler-serving.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/scheduler-serving.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/scheduler-serving.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/scheduler-serving.key
( if [ -e /etc/kubernetes/pki/scheduler-serving.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/scheduler-serving.key; sha256sum /etc/kubernetes/pki/scheduler-serving.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-client.crt
( if [ -e /etc/kubernetes/pki/front-proxy-client.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-client.crt; sha256sum /etc/kubernetes/pki/front-proxy-client.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/front-proxy-client.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/front-proxy-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/front-proxy-client.key
( if [ -e /etc/kubernetes/pki/front-proxy-client.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/front-proxy-client.key; sha256sum /etc/kubernetes/pki/front-proxy-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/sa.key
( if [ -e /etc/kubernetes/pki/sa.key ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/sa.key; sha256sum /etc/kubernetes/pki/sa.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/sa.pub
( if [ -e /etc/kubernetes/pki/sa.pub ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/sa.pub; sha256sum /etc/kubernetes/pki/sa.pub | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/sa.pub) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/sa.pub; echo; else echo big; fi; else echo absent; fi
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
