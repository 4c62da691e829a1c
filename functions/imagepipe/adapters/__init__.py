"""Adapters: the only modules that talk to AWS (boto3, pynamodb)."""
