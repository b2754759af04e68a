rm -f /var/lib/kubeward/rollout/node
