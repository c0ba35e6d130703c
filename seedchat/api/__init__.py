"""seedchat's OpenAI-compatible API (``/v1``) and Ollama's (``/api``): ``seedchat serve``,
and beside the web UI.

requests.py   what a client may ask, checked and turned into ChatSettings
responses.py  seedchat's events in OpenAI's shapes (chunks, completions, usage)
calls.py      what both faces share: one reply (Call, respond), errors, the key
openai.py     OpenAI's routes (``/v1``) over the app's one ModelHost
app.py        the faces put together: the one route list (``/health``, ``/openapi.json``)
schema.py     the API as documented: response models, the one OpenAPI document
saving.py     saving API conversations to the store (``--save``)
ollama_shapes.py  Ollama's requests and replies over seedchat's types
ollama.py     Ollama's routes (``/api``) over the same host, calls, key and saver
serve.py      running it with uvicorn; no API beyond this machine without a key
"""
