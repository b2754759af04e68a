echo cgroupfs=$(stat -fc %T /sys/fs/cgroup 2>/dev/null); echo capeff=$(awk '/^CapEff:/ {print $2}' /proc/self/status); echo conntrack=$(stat -c %a /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo absent)
[ -s /var/lib/kubelet/pki/kubelet-client-current.pem ] && echo yes || echo no
[ -s /var/lib/kubelet/pki/kubelet-server-current.pem ] && echo yes || echo no
