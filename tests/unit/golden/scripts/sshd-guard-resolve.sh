set -e
sshd -t && systemctl reload ssh
