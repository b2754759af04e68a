"""etcd on the control planes: configuration, membership, and kubeward's own client.

Modules: ``config`` (the member's configuration file and systemd drop-in, pure), ``membership``
(which members to add, start, promote or remove, in which order, pure), ``scripts`` (the shell
kubeward runs on nodes: etcdctl, health waits, snapshot restore, pure), ``client`` (the v3 JSON
gateway over HTTPS with kubeward's client certificate, through SSH tunnels), ``admin`` (status,
snapshot save and restore for ``kubeward etcd``).
"""
