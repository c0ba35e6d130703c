"""A model running: llama.cpp on this machine (local.py) or a model on a server (remote.py), the one loaded model of an app (host.py), decoding, lookup drafts, the reply's budget, KV states."""
