"""Benchmarks of the gateway against direct calls and LiteLLM (see docs/benchmarks.md)."""
