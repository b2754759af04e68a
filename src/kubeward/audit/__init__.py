"""The audit: probes (I/O) in ``probe``; pure evaluation in ``evaluate``; reports in ``report``."""
