"""The component and port catalog, as data."""
