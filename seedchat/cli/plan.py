"""`seedchat plan MODEL --context N [--kv TYPE]`: what loading MODEL with a context of N
tokens costs on this machine, each way it can be done (the KV cache type, the KV cache on
the GPU or in RAM, the layers on the GPU), as :func:`seedchat.planner.context_plans`
prices them; the plans that fit come first."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from rich.markup import escape

from seedchat.backend import available_ram_bytes, detect_gpus
from seedchat.cli.console import console, note
from seedchat.models import human_size, resolve_model
from seedchat.planner import KV_TYPES, context_plans, read_shape
from seedchat.settings import load_settings

DESCRIPTION = (
    "Price a context of N tokens for MODEL (a GGUF path or a downloaded model's name): for each "
    "KV cache type (f16, q8_0, q4_0, K and V alike, with flash attention) and the KV cache on "
    "the GPU or in RAM, the memory it takes, the layers that still fit the GPU, and whether it "
    "fits this machine's free memory."
)


def register(sub) -> None:
    p = sub.add_parser("plan", help="What a context of N tokens costs", description=DESCRIPTION)
    p.add_argument("model", metavar="MODEL", help="a GGUF file or a downloaded model's name")
    p.add_argument("--context", type=int, required=True, metavar="N", help="tokens needed")
    p.add_argument("--kv", choices=KV_TYPES, help="only this KV cache type")
    p.add_argument("--json", action="store_true", help="print the plans as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    path = resolve_model(args.model, load_settings())
    shape = read_shape(path)
    gpus = detect_gpus()
    free_gpu = gpus[0].free_bytes if gpus else 0
    free_ram = available_ram_bytes()
    kv_types = (args.kv,) if args.kv else KV_TYPES
    plans = context_plans(shape, args.context, free_gpu, free_ram, kv_types)
    if args.json:
        print(json.dumps([{**asdict(p), "words": p.words} for p in plans], indent=2))
        return 0 if any(p.fits for p in plans) else 1
    gpu = f"{gpus[0].name}, {human_size(free_gpu)} free" if gpus else "no GPU"
    note(
        f"{path.name}: {shape.n_layers} layers, trained on {shape.n_ctx_train:,} tokens; "
        f"{gpu}; RAM {human_size(free_ram)} free"
    )
    for p in plans:
        style = "green" if p.fits else "dim"
        console.print(f"[{style}]{escape(p.words)}[/]", soft_wrap=True)
    return 0 if any(p.fits for p in plans) else 1
