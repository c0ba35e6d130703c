"""The Gradio web UI (seedchat.ui): the only package that imports gradio."""
