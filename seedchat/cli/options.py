"""The options several verbs share, added and read in one place: how a model loads
(``--context``, ``--gpu-layers``), lookup decoding (``--lookup``/``--no-lookup``), a preset
(``--preset``) and a model on another server (``--engine-url``, ``--engine-key``)."""

from __future__ import annotations

import argparse
import os

from seedchat.engine.remote_servers import ENGINE_KEY_ENV, RemoteServer
from seedchat.presets import load_presets
from seedchat.settings import ChatSettings


def gpu_layers(value: str) -> int | str:
    """The ``--gpu-layers`` value: 'auto' or a number of layers (argparse's ``type``)."""
    if value == "auto":
        return value
    try:
        layers = int(value)
    except ValueError:
        layers = -1
    if layers < 0:
        raise argparse.ArgumentTypeError(f"'auto' or a number of layers, not {value!r}")
    return layers


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """``--context`` and ``--gpu-layers``: read as ``args.context``, ``args.gpu_layers``
    (None when not given: the settings file decides)."""
    parser.add_argument("--context", type=int, help="context length in tokens")
    parser.add_argument(
        "--gpu-layers", type=gpu_layers, help="'auto' or a number of layers on the GPU"
    )


def add_lookup_options(parser: argparse.ArgumentParser) -> None:
    """``--lookup``/``--no-lookup``: ``args.lookup_decoding`` is "auto", "off", or None
    (the lookup_decoding setting decides)."""
    parser.add_argument(
        "--lookup",
        dest="lookup_decoding",
        action="store_const",
        const="auto",
        help="draft tokens the conversation already holds (default: the lookup_decoding setting)",
    )
    parser.add_argument(
        "--no-lookup",
        dest="lookup_decoding",
        action="store_const",
        const="off",
        help="decode one token at a time",
    )


def add_preset_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--preset NAME``: read as ``args.preset`` (None when not given); :func:`with_preset`
    applies it."""
    parser.add_argument(
        "--preset",
        metavar="NAME",
        help=help,
    )


def with_preset(args: argparse.Namespace, base: ChatSettings) -> ChatSettings:
    """``base`` with the preset ``--preset`` names (unchanged without one); PresetError, which
    lists the presets, for a name that is none."""
    if not getattr(args, "preset", None):
        return base
    return load_presets().get(args.preset).apply(base)


def add_engine_options(parser: argparse.ArgumentParser, *key_aliases: str) -> None:
    """``--engine-url`` and ``--engine-key`` (also spelled ``key_aliases``): a model on an
    OpenAI-compatible server; :func:`remote_server` reads them."""
    parser.add_argument(
        "--engine-url",
        metavar="URL",
        help="use a model on an OpenAI-compatible server (vLLM, llama.cpp, seedchat serve); "
        "--model names the server's model",
    )
    parser.add_argument(
        "--engine-key",
        *key_aliases,
        dest="engine_key",
        metavar="KEY",
        help=f"that server's API key (also read from {ENGINE_KEY_ENV})",
    )


def remote_server(args: argparse.Namespace) -> RemoteServer | None:
    """The server ``--engine-url`` names, with its key (the flag's, else the environment's);
    None when the model is local."""
    if not args.engine_url:
        return None
    key = args.engine_key or os.environ.get(ENGINE_KEY_ENV) or None
    return RemoteServer(args.engine_url, key)
