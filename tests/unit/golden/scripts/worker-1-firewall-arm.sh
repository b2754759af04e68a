set -e
umask 077
mkdir -p /usr/local/lib/kubeward /var/lib/kubeward/rollback && chmod 0700 /var/lib/kubeward /var/lib/kubeward/rollback
S=/var/lib/kubeward/rollback/firewall
rm -rf "$S" "$S.tmp" && mkdir -m 0700 "$S.tmp"
(S="$S.tmp"
if nft list table inet kubeward >/dev/null 2>&1; then
  { echo 'table inet kubeward {}'; echo 'delete table inet kubeward'; nft list table inet kubeward; } > "$S/prev.nft"
else printf 'table inet kubeward {}\ndelete table inet kubeward\n' > "$S/prev.nft"; fi
)
mv "$S.tmp" "$S"
mkdir -p /etc/kubeward && chmod 0700 /etc/kubeward
printf %s '# kubeward host firewall of worker-1 (worker), cluster prod-eu.
# Generated from cluster.yml by kubeward; edits are overwritten. Load with: nft -f FILE
# It replaces only table inet kubeward, atomically; other tables (kube-proxy, CNI) stay.
table inet kubeward {}
delete table inet kubeward
table inet kubeward {
	set nodes {
		type ipv4_addr
		elements = { 10.0.0.10, 10.0.0.11, 10.0.0.12, 10.0.0.21 }
	}
	set control_planes {
		type ipv4_addr
		elements = { 10.0.0.10, 10.0.0.11, 10.0.0.12 }
	}
	set admin {
		type ipv4_addr
		flags interval
		elements = { 198.51.100.0/24 }
	}
	set trusted {
		type ipv4_addr
		flags interval
	}
	set nodeport_sources {
		type ipv4_addr
		flags interval
		elements = { 0.0.0.0/0 }
	}
	set pods {
		type ipv4_addr
		flags interval
		elements = { 10.244.0.0/16 }
	}
	counter dropped {
	}

	chain prerouting {
		type filter hook prerouting priority -150; policy accept;
		iif "lo" accept
		ct state established,related accept
		meta l4proto { tcp, udp } th dport 30001-30099 fib daddr type local jump nodeport_guard
	}

	chain nodeport_guard {
		ip saddr @nodeport_sources accept comment "nodeport"
		iifname "eth1" ip saddr @nodes accept comment "nodeport"
		iifname "cni0" ip saddr @pods accept comment "nodeport"
		counter name "dropped" drop comment "nodeport-guard"
	}

	chain input {
		type filter hook input priority 0; policy drop;
		ct state established,related accept
		ct state invalid counter name "dropped" drop
		iif "lo" accept
		meta nfproto ipv6 counter name "dropped" drop comment "ipv6-drop"
		icmp type { destination-unreachable, time-exceeded, parameter-problem } accept
		icmp type echo-request limit rate 10/second burst 20 packets accept
		tcp dport 10255 counter name "dropped" drop comment "kubelet-read-only: must stay closed"
		ip saddr @admin tcp dport 22 accept comment "ssh"
		iifname "eth1" ip saddr @nodes tcp dport 10250 accept comment "kubelet"
		iifname "cni0" ip saddr @pods tcp dport 10250 accept comment "kubelet"
		ip saddr @nodeport_sources tcp dport 30001-30099 accept comment "nodeport-tcp"
		iifname "eth1" ip saddr @nodes tcp dport 30001-30099 accept comment "nodeport-tcp"
		iifname "cni0" ip saddr @pods tcp dport 30001-30099 accept comment "nodeport-tcp"
		ip saddr @nodeport_sources udp dport 30001-30099 accept comment "nodeport-udp"
		iifname "eth1" ip saddr @nodes udp dport 30001-30099 accept comment "nodeport-udp"
		iifname "cni0" ip saddr @pods udp dport 30001-30099 accept comment "nodeport-udp"
		counter name "dropped" drop
	}

	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		ct state invalid counter name "dropped" drop
		meta nfproto ipv6 counter name "dropped" drop comment "ipv6-drop"
		ct status dnat meta l4proto tcp ct original proto-dst 30001-30099 accept comment "nodeport"
		ct status dnat meta l4proto udp ct original proto-dst 30001-30099 accept comment "nodeport"
		iifname { "cni0", "eth1" } ip saddr @pods ip daddr @pods accept comment "pod-network"
		iifname "cni0" ip saddr @pods oifname "eth1" accept comment "pod-network"
		iifname "eth1" ip saddr @nodes ip daddr @pods accept comment "pod-network"
		counter name "dropped" drop comment "forward"
	}

	chain output {
		type filter hook output priority 0; policy accept;
		meta nfproto ipv6 oif != "lo" reject comment "ipv6-drop"
	}
}
' > /etc/kubeward/firewall.nft.new
if ! out=$( ( nft -c -f /etc/kubeward/firewall.nft.new
) 2>&1); then
  rm -f /etc/kubeward/firewall.nft.new
  rm -rf "$S"
  echo "@@invalid $out" >&2
  exit 3
fi
printf %s '#!/bin/sh
# Managed by kubeward: restores the firewall saved before a guarded change.
# Run by kubeward-firewall-rollback.timer when kubeward did not prove a fresh SSH login in time,
# or by kubeward itself when that proof failed.
S=/var/lib/kubeward/rollback/firewall
[ -d "$S" ] || { echo "kubeward: nothing saved in $S, nothing to restore"; exit 0; }
restore() {
nft -f "$S/prev.nft" && rm -f /etc/kubeward/firewall.nft.new
}
if restore; then
  rm -rf "$S"
  echo "kubeward: restored the firewall saved before an unproven change"
else
  echo "kubeward: restoring the firewall failed; the saved state stays in $S" >&2
  exit 1
fi
' > /usr/local/lib/kubeward/rollback-firewall.sh.tmp
chown root:root /usr/local/lib/kubeward/rollback-firewall.sh.tmp && chmod 0700 /usr/local/lib/kubeward/rollback-firewall.sh.tmp && mv -f /usr/local/lib/kubeward/rollback-firewall.sh.tmp /usr/local/lib/kubeward/rollback-firewall.sh
systemctl stop kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
systemctl reset-failed kubeward-firewall-rollback.service kubeward-firewall-rollback.timer >/dev/null 2>&1 || true
systemd-run --quiet --unit kubeward-firewall-rollback --on-active=60 --timer-property=AccuracySec=1ms \
  --description='kubeward: roll the firewall back unless a fresh SSH login was proven' /usr/local/lib/kubeward/rollback-firewall.sh
# the timer started before this line: it fires within the second before this deadline
deadline=$(( $(date +%s) + 60 + 1 ))
echo "$deadline" > "$S/deadline"
nft -f /etc/kubeward/firewall.nft.new
echo "@@armed $deadline"
