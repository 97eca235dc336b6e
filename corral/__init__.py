"""Corral: high availability for OpenStack."""
