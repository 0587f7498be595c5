"""Tests of slimnas.bnas (a package: its conftest and test_cli must not shadow tests/ ones)."""
