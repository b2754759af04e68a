"""The local lab: real Debian 12 nodes on this machine, each booted with systemd as PID 1 in its
own network, mount, UTS, IPC, PID and cgroup namespaces over an overlay of a cached debootstrapped
image, wired on a "public" network the operator reaches and a node-only "private" network.

Modules: ``plan`` (pure addressing and naming), ``sh`` (running host commands), ``image`` (the
cached root filesystem and the lab-local Debian repository), ``node`` (boot, stop, exec one node),
``lab`` (a whole lab: up, down, status, partition, heal, its state file and cluster.yml).
"""
