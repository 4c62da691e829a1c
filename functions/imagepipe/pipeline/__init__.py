"""Wiring and message models of the processing functions (Ingest, Variants, Metadata)."""
