"""The tools block's prompt cost per tool, in Seed's two tool forms, on the demo model.

    .venv/bin/python benchmarks/bench_tool_prompt.py

Renders one question with no tools and with the tools below, through the official
Seed-OSS template (the demo model's, unchanged), in its Python-signature form and in its
JSON form (``use_json_tooldef``); counts the tools block's tokens with the demo model's
tokenizer (a small vocabulary: a real Seed-OSS tokenizer needs fewer tokens for the same
text, so characters are given too), and what each form keeps of the schemas. Then asks the
demo model, greedy, "What time is it in Tokyo?" with ``get_current_time`` in each form and
reports whether it wrote a ``<seed:tool_call>``. Results: docs/seed-format.md.
"""

from __future__ import annotations

from seedchat.engine.local import Engine
from seedchat.events import ToolCall
from seedchat.models import demo_model
from seedchat.seed.template import Message
from seedchat.settings import GenerationOptions, LoadOptions


def tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


TZ = {"type": "string", "description": "IANA timezone name (e.g. 'Europe/London')."}
TOOLS = [  # mcp-server-time's two tools, and a richer schema (enum, nested object, array)
    tool(
        "get_current_time",
        "Get current time in a specific timezones",
        {"timezone": TZ},
        ["timezone"],
    ),
    tool(
        "convert_time",
        "Convert time between timezones",
        {
            "source_timezone": TZ,
            "time": {"type": "string", "description": "Time to convert in 24-hour format (HH:MM)"},
            "target_timezone": TZ,
        },
        ["source_timezone", "time", "target_timezone"],
    ),
    tool(
        "search_files",
        "Search files under a folder.",
        {
            "query": {"type": "string", "description": "What to look for."},
            "kind": {"type": "string", "enum": ["name", "content"], "description": "Where."},
            "limits": {
                "type": "object",
                "properties": {"max_results": {"type": "integer"}, "depth": {"type": "integer"}},
                "description": "Limits of the search.",
            },
            "extensions": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Only these.",
            },
        },
        ["query"],
    ),
]
QUESTION = [Message("user", "What time is it in Tokyo?")]


def main() -> None:
    with Engine.load(demo_model(), LoadOptions(context_length=4096, threads=2)) as engine:
        template = engine.template
        base = template.render(QUESTION)
        print(
            "| form | tools | block tokens (demo) | per tool | block characters | keeps enum / nested |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for json_tools in (False, True):
            form = "JSON" if json_tools else "Python signature"
            for n in (1, 2, 3):
                text = template.render(QUESTION, tools=TOOLS[:n], json_tools=json_tools)
                block = text[: len(text) - len(base)]
                count = len(engine.tokenize(text)) - len(engine.tokenize(base))
                keeps = "yes" if json_tools else ("no" if n == 3 else "-")
                print(f"| {form} | {n} | {count} | {count / n:.0f} | {len(block)} | {keeps} |")
        for json_tools in (False, True):
            prompt = template.render(QUESTION, tools=TOOLS[:1], json_tools=json_tools)
            options = GenerationOptions(budget=0, temperature=0.0, seed=7, max_tokens=160, raw=True)
            events = list(engine.generate(prompt, options))
            calls = [e for e in events if isinstance(e, ToolCall)]
            form = "JSON" if json_tools else "Python signature"
            print(f"demo model, {form}: {'a call' if calls else 'no call'} {calls[:1]}")


if __name__ == "__main__":
    main()
