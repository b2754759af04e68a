rm -f /var/lib/kubeward/rollout/node; rmdir /var/lib/kubeward/rollout 2>/dev/null || true
