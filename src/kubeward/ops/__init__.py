"""Facts and idempotent operations on a host (pure); see ``base``."""
