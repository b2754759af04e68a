mv -f /etc/kubeward/firewall.nft.new /etc/kubeward/firewall.nft && chmod 0600 /etc/kubeward/firewall.nft
nft -s list table inet kubeward 2>/dev/null | sha256sum | cut -d' ' -f1 > /etc/kubeward/firewall.listed.sha256
if [ "$(cat /etc/systemd/system/kubeward-firewall.service 2>/dev/null)" != '[Unit]
Description=kubeward host firewall (nftables table inet kubeward)
Documentation=https://github.com/kubeward/kubeward
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f /etc/kubeward/firewall.nft

[Install]
WantedBy=multi-user.target
' ]; then
  printf '%s\n' '[Unit]
Description=kubeward host firewall (nftables table inet kubeward)
Documentation=https://github.com/kubeward/kubeward
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/nft -f /etc/kubeward/firewall.nft

[Install]
WantedBy=multi-user.target
' > /etc/systemd/system/kubeward-firewall.service && systemctl daemon-reload
fi
systemctl enable --quiet kubeward-firewall.service