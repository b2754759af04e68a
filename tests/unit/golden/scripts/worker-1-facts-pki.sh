printf '\n@@kw fact %s\n' dir:/etc/kubernetes/pki
( if [ -e /etc/kubernetes/pki ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki; sha256sum /etc/kubernetes/pki | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' dir:/var/lib/kubelet/pki
( if [ -e /var/lib/kubelet/pki ]; then stat -c '%F|%U|%G|%a' /var/lib/kubelet/pki; sha256sum /var/lib/kubelet/pki | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/etc/kubernetes/pki/ca.crt
( if [ -e /etc/kubernetes/pki/ca.crt ]; then stat -c '%F|%U|%G|%a' /etc/kubernetes/pki/ca.crt; sha256sum /etc/kubernetes/pki/ca.crt | cut -d' ' -f1; if [ $(stat -c %s /etc/kubernetes/pki/ca.crt) -le 262144 ]; then base64 -w0 /etc/kubernetes/pki/ca.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/var/lib/kubelet/pki/kubelet-client.crt
( if [ -e /var/lib/kubelet/pki/kubelet-client.crt ]; then stat -c '%F|%U|%G|%a' /var/lib/kubelet/pki/kubelet-client.crt; sha256sum /var/lib/kubelet/pki/kubelet-client.crt | cut -d' ' -f1; if [ $(stat -c %s /var/lib/kubelet/pki/kubelet-client.crt) -le 262144 ]; then base64 -w0 /var/lib/kubelet/pki/kubelet-client.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/var/lib/kubelet/pki/kubelet-client.key
( if [ -e /var/lib/kubelet/pki/kubelet-client.key ]; then stat -c '%F|%U|%G|%a' /var/lib/kubelet/pki/kubelet-client.key; sha256sum /var/lib/kubelet/pki/kubelet-client.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/var/lib/kubelet/pki/kubelet.crt
( if [ -e /var/lib/kubelet/pki/kubelet.crt ]; then stat -c '%F|%U|%G|%a' /var/lib/kubelet/pki/kubelet.crt; sha256sum /var/lib/kubelet/pki/kubelet.crt | cut -d' ' -f1; if [ $(stat -c %s /var/lib/kubelet/pki/kubelet.crt) -le 262144 ]; then base64 -w0 /var/lib/kubelet/pki/kubelet.crt; echo; else echo big; fi; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' file:/var/lib/kubelet/pki/kubelet.key
( if [ -e /var/lib/kubelet/pki/kubelet.key ]; then stat -c '%F|%U|%G|%a' /var/lib/kubelet/pki/kubelet.key; sha256sum /var/lib/kubelet/pki/kubelet.key | cut -d' ' -f1; echo; else echo absent; fi
) 2>&1 || true
printf '\n@@kw fact %s\n' end
