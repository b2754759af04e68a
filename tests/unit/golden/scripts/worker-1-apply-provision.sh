set -e
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
# set hostname to worker-1 (now absent)
echo worker-1 > /etc/hostname && (hostnamectl set-hostname worker-1 2>/dev/null || hostname worker-1)
echo '@@kw done 0'
# map 127.0.1.1 to worker-1 in /etc/hosts
mkdir -p /etc && tmp=$(mktemp /etc/.kubeward.XXXXXX) && printf %s MTI3LjAuMS4xCXdvcmtlci0xCg== | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" /etc/hosts || { rm -f "$tmp"; exit 1; }
echo '@@kw done 1'
# create group kubeadmin (gid 1500)
groupadd --gid 1500 kubeadmin
echo '@@kw done 2'
# create user kubeadmin (uid 1500, gid 1500, groups sudo)
useradd --uid 1500 --gid 1500 --create-home --home-dir /home/kubeadmin --shell /bin/bash --groups sudo kubeadmin && usermod -p '*' kubeadmin
echo '@@kw done 3'
# create /home/kubeadmin/.ssh (0700, kubeadmin)
mkdir -p /home/kubeadmin/.ssh && chown kubeadmin:kubeadmin /home/kubeadmin/.ssh && chmod 0700 /home/kubeadmin/.ssh
echo '@@kw done 4'
# add the admin key to /home/kubeadmin/.ssh/authorized_keys
mkdir -p /home/kubeadmin/.ssh && tmp=$(mktemp /home/kubeadmin/.ssh/.kubeward.XXXXXX) && printf %s c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUZ5SGNwdm9GVTlkRmxvSm1rOE9RLytpY0JEamlxbThnRktjaXExZ1I4WDkgYUBiCg== | base64 -d > "$tmp" && chown kubeadmin:kubeadmin "$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" /home/kubeadmin/.ssh/authorized_keys || { rm -f "$tmp"; exit 1; }
echo '@@kw done 5'
# create /etc/sudoers.d/kubeward-kubeadmin (root:root 0440)
mkdir -p /etc/sudoers.d && tmp=$(mktemp /etc/sudoers.d/.kubeward.XXXXXX) && printf %s a3ViZWFkbWluIEFMTD0oQUxMKSBOT1BBU1NXRDpBTEwK | base64 -d > "$tmp" && chown root:root "$tmp" && chmod 0440 "$tmp" && visudo -cqf "$tmp" && mv -f "$tmp" /etc/sudoers.d/kubeward-kubeadmin || { rm -f "$tmp"; exit 1; }
echo '@@kw done 6'
# install ca-certificates, curl, jq, conntrack, socat
apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates curl jq conntrack socat >/dev/null
echo '@@kw done 7'
