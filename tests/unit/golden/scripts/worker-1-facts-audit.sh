echo @@ss; ss -Htlnupe 2>/dev/null
echo @@sshd
t=$(mktemp); sshd -T -dd 2>"$t"; echo "@@sshd-rc $?"
sed -n 's/.*load_server_config: filename //p' "$t" | tr -d '\r' | while IFS= read -r f; do
  echo "@@file $f"; head -c 262144 "$f" | sed 's/^/ /'; echo; done; rm -f "$t"

echo @@files
for f in '/etc/ssh/sshd_config.d/!kubeward-hardening.conf' /etc/kubeward/firewall.nft /etc/sudoers.d/kubeward-kubeadmin /home/kubeadmin/.ssh/authorized_keys /etc/ssh/ssh_host_ed25519_key /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/api-proxy.crt /etc/kubernetes/pki/api-proxy.key $(find /etc/kubernetes /etc/etcd /etc/kubeward /var/lib/kubeward /etc/ssl/private /root /home /tmp /srv -xdev -type f \( -name '*.key' -o -name '*.pem' -o -name '*kubeconfig*' \
    -o -name '*.conf' -path '*/kubernetes/*' -o -name 'authorized_keys' \) -size -256k 2>/dev/null); do
  [ -f "$f" ] && echo "$(stat -c '%U|%G|%a' "$f")|$(sha256sum < "$f" | cut -d' ' -f1)|$f"
done
echo @@passwd; getent passwd | cut -d: -f1,3,4,6
echo @@group; getent group | cut -d: -f1,3,4
echo @@ak

akf="$(sshd -T 2>/dev/null | sed -n 's/^authorizedkeysfile //p') .ssh/authorized_keys .ssh/authorized_keys2"
getent passwd | awk -F: -v akf="$akf" '
BEGIN { n = split(akf, pats, " ") }
{
  for (i = 1; i <= n; i++) {
    p = pats[i]; out = ""
    if (p == "none") continue
    while ((j = index(p, "%")) > 0) {
      c = substr(p, j + 1, 1); out = out substr(p, 1, j - 1)
      if (c == "%") out = out "%"; else if (c == "h") out = out $6; else if (c == "u") out = out $1
      else if (c == "U") out = out $3; else out = out "%" c
      p = substr(p, j + 2)
    }
    out = out p
    if (substr(out, 1, 1) != "/") { h = $6; sub(/\/$/, "", h); out = h "/" out }
    print $1 "\t" out
  }
}' | while IFS='	' read -r u p; do
  [ -f "$p" ] || continue
  echo "@@akfile $u|$(stat -c '%U|%a' "$p")|$p"
  head -c 65536 "$p" | sed 's/^/ /'; echo
done

echo @@keys

kw_spki() { sha256sum | cut -c1-64; }
kw_fp() {  # the public key of a private key file, whatever its encoding: PEM/DER, PKCS#8/traditional, OpenSSH
  for inf in PEM DER; do
    s=$(openssl pkey -inform $inf -in "$1" -passin pass: -pubout -outform DER 2>/dev/null </dev/null | kw_spki)
    [ "$s" != <sha256> ] && { printf ' spki:%s' "$s"; return; }
  done
  s=$(ssh-keygen -y -P '' -f "$1" 2>/dev/null </dev/null | awk '{print $2}' | base64 -d 2>/dev/null | kw_spki)
  [ "$s" != <sha256> ] && printf ' ssh:%s' "$s"
  grep -o 'client-key-data: *[A-Za-z0-9+/=]*' "$1" 2>/dev/null | while read -r _ b; do
    s=$(printf %s "$b" | base64 -d 2>/dev/null | openssl pkey -passin pass: -pubout -outform DER 2>/dev/null | kw_spki)
    [ "$s" != <sha256> ] && printf ' spki:%s' "$s"
  done
}
command -v openssl >/dev/null 2>&1 || echo '@@gap keys|openssl is not installed: private keys are not identified'
list=$(mktemp)
timeout 30 find /etc /root /home /var/lib /opt /srv /tmp /usr/local -xdev -maxdepth 8 \( -path /var/lib/containerd -o -path /var/lib/docker -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache \) -prune -o -type f -size -64k -print 2>/dev/null > "$list"
[ $? = 124 ] && echo '@@gap keys|the search for private keys timed out after 30s'
n=$(wc -l < "$list"); echo "@@searched $n"
marker='-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----'
xargs -r -d '\n' grep -l -E -e "$marker" -e 'client-key-data:' < "$list" 2>/dev/null > "$list.c"
[ "$(wc -l < "$list.c")" -gt 2000 ] && echo '@@gap keys|more than 2000 files hold key material: only the first 2000 were identified'
{ cat "$list.c"; grep -E '\.(key|der|p8|pk8)$' "$list" | grep -vxF -f "$list.c"; } | head -n 2000 \
  | while IFS= read -r f; do
  fp=$(kw_fp "$f")
  if grep -q -E -e "$marker" "$f" 2>/dev/null; then k=m; elif [ -n "$fp" ]; then k=n; else continue; fi
  echo "$k|$(stat -c '%U|%G|%a' "$f")|${fp# }|$f"
done
rm -f "$list.c"
rm -f "$list"

echo @@procs
for pid in $(pgrep -x 'kube-apiserver|kube-controller|kube-scheduler|etcd|kubelet|kube-proxy'); do
  [ -r /proc/$pid/cmdline ] || continue
  echo "@@proc $(cat /proc/$pid/comm) $pid"
  tr '\0' '\n' < /proc/$pid/cmdline | sed 's/^/ a /'
  [ "$(cat /proc/$pid/comm)" = etcd ] && tr '\0' '\n' < /proc/$pid/environ | grep '^ETCD_' | sed 's/^/ e /'
  echo " v $(timeout 5 /proc/$pid/exe --version 2>/dev/null </dev/null | head -n 1)"
  prev=
  tr '\0' '\n' < /proc/$pid/cmdline | while IFS= read -r a; do
    f=
    case "$a" in
      --config=*|--config-file=*|--encryption-provider-config=*) k=${a%%=*}; f=${a#*=} ;;
      *) case "$prev" in --config|--config-file|--encryption-provider-config) k=$prev; f=$a ;; esac ;;
    esac
    prev=$a
    [ -n "$f" ] || continue
    case "$f" in /*) p=$f ;; *) p=/proc/$pid/cwd/$f ;; esac
    echo " f ${k#--} $f"
    head -c 262144 "$p" 2>/dev/null | sed -E 's/^([[:space:]-]*(secret|key|token|password):).*/\1 (redacted)/; s/^/ c /'
  done
done
echo @@certs
for f in /var/lib/kubelet/pki/kubelet-client-current.pem; do
  [ -f "$f" ] && echo "$(openssl x509 -noout -enddate -in "$f" 2>/dev/null | cut -d= -f2)|$f"
done
echo @@fw
(nft -s list table inet kubeward 2>/dev/null | sha256sum | cut -d' ' -f1) ; nft list table inet kubeward >/dev/null 2>&1 && echo present || echo absent
cat /etc/kubeward/firewall.listed.sha256 2>/dev/null || echo
[ -f /etc/kubeward/firewall.nft ] && sha256sum < /etc/kubeward/firewall.nft | cut -d' ' -f1 || echo
echo @@state
kw_digest() { sha256sum | cut -c1-64; }
echo "ruleset $({ nft -s list ruleset; for t in iptables-legacy-save ip6tables-legacy-save; do
  command -v $t >/dev/null 2>&1 && $t | grep -v '^#'; done; } 2>&1 | kw_digest)"
echo "net $({ ip -br addr; ip route show table all; ip -6 route show table all; ip rule; ip -6 rule
  for k in net.ipv4.ip_forward net.ipv6.conf.all.forwarding net.ipv4.conf.all.route_localnet \
    net.ipv4.conf.all.rp_filter net.ipv4.conf.all.accept_local; do sysctl -n $k; done
} 2>&1 | sed -E 's/ expires [0-9]+sec//' | kw_digest)"
echo "sshd-bin $(sha256sum < "$(command -v sshd || echo /usr/sbin/sshd)" 2>&1 | cut -c1-64)"

echo @@end
