"""Attached files as text (read.py) and the passages that match a question (retrieval.py)."""
