"""All SSH in kubeward: connections, commands, uploads and host-key trust (see ``ssh``)."""
