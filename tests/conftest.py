"""Shared pytest set-up: lab tests need root and bring one lab up per session."""
