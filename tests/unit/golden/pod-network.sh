#!/bin/sh
# Managed by kubeward: routes to the other nodes' pod CIDRs and one masquerade rule.
set -eu
want=$(cat <<'EOF'
10.244.0.0/24 via 10.0.0.1
10.244.2.0/24 via 10.0.0.3
EOF
)
ip -4 route show proto 77 | while read -r dst _ via _; do
  printf "%s\n" "$want" | grep -qxF "$dst via $via" || ip route del "$dst" proto 77
done
ip route replace 10.244.0.0/24 via 10.0.0.1 proto 77
ip route replace 10.244.2.0/24 via 10.0.0.3 proto 77
nft -f - <<'EOF'
table ip kubeward_pods
delete table ip kubeward_pods
table ip kubeward_pods {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.244.0.0/16 ip daddr != 10.244.0.0/16 masquerade comment "pods leaving the pod network"
	}
}
EOF
