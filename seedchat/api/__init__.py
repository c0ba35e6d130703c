"""seedchat's OpenAI-compatible API: ``seedchat serve``, and ``/v1`` beside the web UI.

requests.py   what a client may ask, checked and turned into ChatSettings
responses.py  seedchat's events in OpenAI's shapes (chunks, completions, usage)
server.py     the FastAPI application over the app's one ModelHost
saving.py     saving API conversations to the store (``--save``)
serve.py      running it with uvicorn; no API beyond this machine without a key
"""
