"""One module per phase of `kubeward up`; each drives hosts through ``kubeward.remote``."""
