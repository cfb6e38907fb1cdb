"""Integration tests of the Prefect flows (a package, so its conftest has a unique module name)."""
