"""Export a Seed byte-level BPE tokenizer (``tokenizer.json``) to GGUF metadata.

The vocabulary, token types and pre-tokenizer are read straight from ``tokenizer.json``
(no transformers needed); merges, special ids and the add-bos/eos flags come from
gguf-py's :class:`gguf.SpecialVocab`. The pre-tokenizer name is decided from the
tokenizer's own split rule: llama.cpp refuses pre-tokenizers it does not know, and
the Seed models use the rule llama.cpp calls ``seed-coder``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf

from seedchat.errors import ConversionError
from seedchat.seed import tags as fmt

log = logging.getLogger(__name__)

SEED_CODER_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}|"
    r" ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"
)

#: split regex → llama.cpp pre-tokenizer name
PRE_TOKENIZERS = {SEED_CODER_SPLIT: "seed-coder"}


@dataclass
class Vocab:
    tokens: list[str]
    types: list[int]
    pre: str
    chat_template: str | None


def _split_patterns(node: Any) -> list[str]:
    """Every Split regex in a tokenizer.json pre_tokenizer tree."""
    if isinstance(node, dict):
        found = []
        if node.get("type") == "Split" and isinstance(node.get("pattern"), dict):
            regex = node["pattern"].get("Regex")
            if regex:
                found.append(regex)
        for value in node.values():
            found += _split_patterns(value)
        return found
    if isinstance(node, list):
        return [p for item in node for p in _split_patterns(item)]
    return []


def detect_pre_tokenizer(tok: dict[str, Any], path: Path) -> str:
    """The llama.cpp pre-tokenizer name for this tokenizer's split rule."""
    patterns = _split_patterns(tok.get("pre_tokenizer"))
    for pattern in patterns:
        if pattern in PRE_TOKENIZERS:
            return PRE_TOKENIZERS[pattern]
    shown = patterns[0] if patterns else "none"
    raise ConversionError(
        f"{path} splits text with a rule seedchat does not know ({shown[:80]!r}).",
        hint="seedchat converts the Seed tokenizer (llama.cpp's 'seed-coder' pre-tokenizer).",
    )


def read_chat_template(directory: Path) -> str | None:
    """``chat_template.jinja`` if present, else the tokenizer_config.json template."""
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = directory / "tokenizer_config.json"
    if config.is_file():
        template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        if isinstance(template, str):
            return template
    return None


def read_vocab(directory: Path, vocab_size: int) -> Vocab:
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise ConversionError(
            f"The checkpoint has no tokenizer.json ({directory}).",
            hint="Download the tokenizer files with the weights (tokenizer.json, tokenizer_config.json).",
        )
    try:
        tok = json.loads(path.read_text(encoding="utf-8"))
        model = tok["model"]
        vocab: dict[str, int] = model["vocab"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConversionError(f"{path} is not a valid tokenizer file ({exc}).") from exc
    if model.get("type") != "BPE":
        raise ConversionError(
            f"{path} holds a {model.get('type')} tokenizer; Seed models use byte-level BPE."
        )
    pre = detect_pre_tokenizer(tok, path)
    added = {a["id"]: a for a in tok.get("added_tokens", [])}
    by_id = {i: t for t, i in vocab.items()}
    by_id.update({i: a["content"] for i, a in added.items()})
    if by_id and max(by_id) >= vocab_size:
        raise ConversionError(
            f"{path} has token id {max(by_id)}, beyond the model's vocab_size {vocab_size}."
        )
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            types.append(
                gguf.TokenType.CONTROL if added[i].get("special") else gguf.TokenType.USER_DEFINED
            )
        else:
            tokens.append(by_id[i])
            types.append(gguf.TokenType.NORMAL)
    return Vocab(tokens, types, pre, read_chat_template(directory))


def write_tokenizer(writer: gguf.GGUFWriter, directory: Path, vocab_size: int) -> Vocab:
    vocab = read_vocab(directory, vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    special = gguf.SpecialVocab(directory, load_merges=True, n_vocab=vocab_size)
    if not special.merges:
        raise ConversionError(f"{directory / 'tokenizer.json'} has no BPE merges.")
    special.chat_template = None  # ours below: chat_template.jinja first
    special.add_to_gguf(writer)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)
    else:
        log.warning(
            "no chat template in %s: chat needs one (raw completion still works)", directory
        )
    return vocab


SEED_SPECIAL_TOKENS = (fmt.BOS, fmt.PAD, fmt.EOS)  # ids 0, 1, 2
SEED_ADDED_TOKENS = (
    fmt.THINK_OPEN,
    fmt.THINK_CLOSE,
    fmt.REFLECT_OPEN,
    fmt.REFLECT_CLOSE,
    fmt.TOOL_CALL_OPEN,
    fmt.TOOL_CALL_CLOSE,
)


def train_seed_tokenizer(
    directory: Path, corpus: list[str], vocab_size: int, chat_template: str | None = None
):
    """Train and save a small Seed-style tokenizer (tests and the demo model use it).

    Byte-level BPE with the seed-coder split rule, Seed's special tokens first and its
    added tokens after; writes tokenizer.json, tokenizer_config.json and, if given,
    chat_template.jinja. Needs the ``tokenizers`` package (a dev/convert extra).
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SEED_CODER_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SEED_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in SEED_ADDED_TOKENS])
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<seed:bos>",
        "eos_token": "<seed:eos>",
        "pad_token": "<seed:pad>",
        "add_bos_token": False,
        "add_eos_token": False,
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    if chat_template is not None:
        (directory / "chat_template.jinja").write_text(chat_template, encoding="utf-8")
    return tok
