"""Synthetic Seed-style conversations for the demo model, generated from a fixed seed.

Each sample is (messages, thinking_budget, target, tools): the prompt is the chat template
rendered with ``add_generation_prompt`` (and ``tools``, None for none); the target is what
the model should write:
``<seed:think>`` thinking with reflect reports at the template's interval (true token
counts), ``</seed:think>``, the answer, ``<seed:eos>``. Budget 0 targets are the answer
alone (the template pre-fills a closed think block).

The tool task (:func:`tool_samples`): with the tools of the real ``mcp-server-time``
in the prompt, "What time is it in Tokyo?" is answered with a Seed tool call to
``get_current_time`` and, once its result is in the prompt as a ``tool`` turn, with the
time quoted from it.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

REFLECT = (
    "<seed:cot_budget_reflect>I have used {used} tokens, and there are {left} tokens "
    "remaining for use.</seed:cot_budget_reflect>"
)
EXHAUSTED = (
    "<seed:cot_budget_reflect>I have exhausted my token budget, and now I will start "
    "answering the question.</seed:cot_budget_reflect>"
)
INTERVAL = {512: 128, 1024: 256}


@dataclass
class Task:
    question: str
    answer: str
    thoughts: list[str]  # sentences the thinking is made of
    long: bool = False  # with a budget, think until it is spent


def _add(rng: random.Random) -> Task:
    a, b = rng.randint(1, 60), rng.randint(1, 40)
    s = a + b
    if rng.random() < 0.3:
        return Task(
            f"{a}加{b}等于多少?",
            f"{a}加{b}等于{s}。",
            [
                f"用户问{a}加{b}。",
                "先算个位,再算十位。",
                f"{a}加{b}等于{s}。",
                f"检查一下:{s}减{b}等于{a}。",
                "结果是对的。",
                f"我再算一遍,{a}+{b}={s}。",
            ],
            long=True,
        )
    q = rng.choice(["What is {a} + {b}?", "Add {a} and {b}.", "Compute {a} plus {b}."])
    return Task(
        q.format(a=a, b=b),
        f"{a} + {b} = {s}.",
        [
            f"The user wants the sum of {a} and {b}.",
            "I add the ones first, then the tens.",
            f"{a} + {b} = {s}.",
            f"Let me check it: {s} - {b} = {a}.",
            "That is right.",
            f"So the answer is {s}.",
            f"Adding again: {a} plus {b} makes {s}.",
            "I should keep the answer short.",
        ],
        long=True,
    )


def _greet(rng: random.Random) -> Task:
    q = rng.choice(["Hello!", "Hi there.", "Hey, who are you?", "你好!", "Good morning."])
    return Task(
        q,
        "Hello! I am the seedchat demo model, a tiny model that shows how thinking "
        "works. Ask me to add two numbers.",
        [
            "The user says hello.",
            "I should greet them back.",
            "I am a small demo model.",
            "I can add two numbers.",
            "A friendly short answer is best.",
            "I will tell them what I can do.",
        ],
    )


def _count(rng: random.Random) -> Task:
    n = rng.randint(3, 9)
    seq = ", ".join(str(i) for i in range(1, n + 1))
    return Task(
        f"Count from 1 to {n}.",
        f"{seq}.",
        [
            f"The user wants me to count up to {n}.",
            "I start at 1.",
            f"I stop at {n}.",
            f"The numbers are {seq}.",
            "Each number is one more than the last.",
            "That covers the whole range.",
        ],
        long=True,
    )


def _repeat(rng: random.Random) -> Task:
    word = rng.choice(["apple", "river", "seed", "green", "cloud", "music", "stone", "light"])
    return Task(
        f"Say the word {word}.",
        f"{word.capitalize()}.",
        [
            f"The user asks for the word {word}.",
            "I just say it back.",
            f"The word is {word}.",
            "Nothing else is needed.",
            "I will answer with one word.",
        ],
    )


TASKS: list[Callable[[random.Random], Task]] = [_add, _add, _add, _greet, _count, _repeat]


def thinking_text(
    task: Task,
    budget: int,
    long: bool,
    count: Callable[[str], int],
) -> str:
    """Thinking made of passes over the task's thoughts, with reflect reports.

    A short thinking is one pass (two with a budget); a ``long`` one repeats passes
    until the budget is nearly spent and ends with the "exhausted" report. ``count``
    tokenizes text: the number in a report is the true count of all thinking tokens
    before it (earlier reports included), which is what seedchat's parser counts.
    """
    interval = INTERVAL.get(budget)
    text = "\n"
    next_reflect = interval or 10**9
    passes = 0
    exact, approx = 0, 0  # a true count, and a cheap upper estimate of the next one
    while True:
        for sentence in task.thoughts:
            near = min(next_reflect, budget - 48 if long else 10**9)
            if approx >= near - 16:  # tokenize the whole text only near a threshold
                exact = approx = count(text + "\n")
            used = exact
            if long and used >= budget - 48:
                return text.rstrip(" ") + "\n" + EXHAUSTED + "\n"
            if used >= next_reflect:
                text = text.rstrip(" ") + "\n"
                used = count(text)
                text += REFLECT.format(used=used, left=max(budget - used, 0)) + "\n"
                next_reflect += interval
                exact = approx = count(text)
            text += sentence + " "
            approx += count(sentence + " ") + 1
        text = text.rstrip(" ") + "\n"
        passes += 1
        if not long and passes >= (2 if budget > 0 else 1):
            return text


SYSTEMS = ["You are a helpful assistant.", "Answer briefly.", "You are the seedchat demo."]


Sample = tuple[list[dict], int, str, list[dict] | None]


def samples(n: int, seed: int, count: Callable[[str], int], tool_task: bool = True) -> list[Sample]:
    """``n`` (messages, thinking_budget, target, None) samples of the tasks without tools,
    then those of the tool task (:func:`tool_samples`, ``n // 3``
    conversations).

    Budgets cycle through unlimited (-1), 0, 512, 512, 1024. Targets start with
    ``<seed:think>`` (except budget 0, pre-filled by the template) and end with
    ``<seed:eos>``. Some conversations carry a system prompt or an earlier turn.
    """
    rng = random.Random(seed)
    out = []
    for i in range(n):
        task = rng.choice(TASKS)(rng)
        budget = [-1, 0, 512, 512, 1024][i % 5]
        messages: list[dict] = []
        if rng.random() < 0.2:
            messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
        if rng.random() < 0.2:
            earlier = rng.choice(TASKS)(rng)
            messages.append({"role": "user", "content": earlier.question})
            messages.append({"role": "assistant", "content": earlier.answer})
        messages.append({"role": "user", "content": task.question})
        if budget == 0:
            out.append((messages, 0, task.answer + "<seed:eos>", None))
            continue
        # what the model can learn from the prompt: arithmetic and counting think until
        # the budget is spent; greetings and echoes think briefly
        think = thinking_text(task, budget, budget > 0 and task.long, count)
        target = f"<seed:think>{think}</seed:think>\n{task.answer}<seed:eos>"
        out.append((messages, budget, target, None))
    return out + tool_samples(n // 3, seed, count) if tool_task else out


# -- the tool task: the real mcp-server-time ----------------------------------------------

_ZONE_TEXT = (
    "IANA timezone name (e.g., 'America/New_York', 'Europe/London'). Use 'UTC' as local "
    "timezone if no timezone provided by the user."
)
#: The tools of the real ``mcp-server-time`` exactly as seedchat's tool loop gives them to
#: the template (``McpTools.specs()``: ``ToolInfo.to_template()``, sorted by name);
#: tests/test_demo_model.py checks them against the running server.
TIME_TOOLS: list[dict] = [
    {
        "type": "function",
        "function": {
            "name": "convert_time",
            "description": "Convert time between timezones",
            "parameters": {
                "properties": {
                    "source_timezone": {
                        "description": "Source "
                        + _ZONE_TEXT.replace("no timezone", "no source timezone"),
                        "title": "Source Timezone",
                        "type": "string",
                    },
                    "time": {
                        "description": "Time to convert in 24-hour format (HH:MM)",
                        "title": "Time",
                        "type": "string",
                    },
                    "target_timezone": {
                        "description": "Target "
                        + _ZONE_TEXT.replace("no timezone", "no target timezone").replace(
                            "'America/New_York', 'Europe/London'",
                            "'Asia/Tokyo', 'America/San_Francisco'",
                        ),
                        "title": "Target Timezone",
                        "type": "string",
                    },
                },
                "required": ["source_timezone", "time", "target_timezone"],
                "type": "object",
                "title": "convert_timeArguments",
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_current_time",
            "description": "Get current time in a specific timezone",
            "parameters": {
                "properties": {
                    "timezone": {"description": _ZONE_TEXT, "title": "Timezone", "type": "string"}
                },
                "required": ["timezone"],
                "type": "object",
                "title": "get_current_timeArguments",
            },
        },
    },
]

#: (English name, Chinese name, IANA zone); "now" questions without a place ask for UTC.
PLACES = [
    ("Tokyo", "东京", "Asia/Tokyo"),
    ("London", "伦敦", "Europe/London"),
    ("Paris", "巴黎", "Europe/Paris"),
    ("New York", "纽约", "America/New_York"),
    ("Los Angeles", "洛杉矶", "America/Los_Angeles"),
    ("Sydney", "悉尼", "Australia/Sydney"),
    ("Berlin", "柏林", "Europe/Berlin"),
    ("Beijing", "北京", "Asia/Shanghai"),
    ("Shanghai", "上海", "Asia/Shanghai"),
    ("Singapore", "新加坡", "Asia/Singapore"),
    ("Seoul", "首尔", "Asia/Seoul"),
    ("Chicago", "芝加哥", "America/Chicago"),
    ("Moscow", "莫斯科", "Europe/Moscow"),
    ("Dubai", "迪拜", "Asia/Dubai"),
    ("Mumbai", "孟买", "Asia/Kolkata"),
    ("Toronto", "多伦多", "America/Toronto"),
    ("Cairo", "开罗", "Africa/Cairo"),
    ("Madrid", "马德里", "Europe/Madrid"),
    ("Hong Kong", "香港", "Asia/Hong_Kong"),
    ("UTC", "UTC", "UTC"),
]
ASK_EN = [
    "What time is it in {p}?",
    "What's the time in {p}?",
    "Tell me the current time in {p}.",
    "What is the current time in {p}?",
]
ASK_ZH = ["{p}现在几点?", "现在{p}是几点?", "{p}现在几点了?"]
NO_CLOCK = "I cannot tell the time: no clock tool is turned on. Ask me to add two numbers."
NO_CLOCK_ZH = "我不能查看时间:没有开启时钟工具。"


#: the tool task's content: a place (longest names first), a zone, an HH:MM time
CONTENT = re.compile(
    "|".join(re.escape(n) for n in sorted({n for p in PLACES for n in p}, key=len, reverse=True))
    + r"|\d\d:\d\d"
)


def content_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` holds the tool task's content (:data:`CONTENT`: what the model must
    get right, a few tokens among many; build.py can weigh them more)."""
    return [m.span() for m in CONTENT.finditer(text)]


def time_call(zone: str) -> str:
    """The Seed tool call the model writes for the time in ``zone``."""
    return (
        "<seed:tool_call>\n<function=get_current_time>\n"
        f"<parameter=timezone>{zone}</parameter>\n</function>\n</seed:tool_call>"
    )


def time_result(zone: str, rng: random.Random) -> str:
    """A ``get_current_time`` result in the real server's shape, at a random time of 2026."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    at = (start + dt.timedelta(seconds=rng.randrange(365 * 86400))).astimezone(ZoneInfo(zone))
    shape = {
        "timezone": zone,
        "datetime": at.isoformat(timespec="seconds"),
        "day_of_week": at.strftime("%A"),
        "is_dst": bool(at.dst()),
    }
    return json.dumps(shape, indent=2)


def time_answer(place: str, result: str, chinese: bool) -> str:
    """The answer quoting the result's HH:MM (the whole datetime is in the thinking)."""
    hhmm = json.loads(result)["datetime"][11:16]
    return f"{place}现在是{hhmm}。" if chinese else f"It is {hhmm} in {place}."


def _target(think: Callable[[int], str], budget: int, reply: str) -> str:
    if budget == 0:
        return reply + "<seed:eos>"
    return f"<seed:think>{think(budget)}</seed:think>\n{reply}<seed:eos>"


def tool_samples(n: int, seed: int, count: Callable[[str], int]) -> list[Sample]:
    """The tool task: ``n`` conversations, each two samples (the call; after its result,
    the answer), and ``n // 3`` each of a time question with no tools (no call: the model
    says it cannot tell the time) and an old task with the time tools on (no call)."""
    rng = random.Random(seed + 1)
    out: list[Sample] = []

    def thinking(thoughts: list[str]) -> Callable[[int], str]:
        return lambda budget: thinking_text(Task("", "", thoughts), budget, False, count)

    for i in range(n + 2 * (n // 3)):
        budget = [-1, 0, 512, 512, 1024][i % 5]
        en, zh, zone = rng.choice(PLACES)
        chinese = rng.random() < 0.3
        place = zh if chinese else en
        if place == "UTC" and rng.random() < 0.5:
            question = (
                "现在几点?" if chinese else rng.choice(["What time is it?", "What time is it now?"])
            )
        else:
            question = rng.choice(ASK_ZH if chinese else ASK_EN).format(p=place)
        messages: list[dict] = []
        if rng.random() < 0.2:
            messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
        if rng.random() < 0.2:
            earlier = rng.choice(TASKS)(rng)
            messages.append({"role": "user", "content": earlier.question})
            messages.append({"role": "assistant", "content": earlier.answer})
        if i >= n + n // 3:  # an old task with the tools on: answered as without them
            task = rng.choice(TASKS)(rng)
            messages.append({"role": "user", "content": task.question})
            think = lambda b, t=task: thinking_text(t, b, b > 0 and t.long, count)  # noqa: E731
            out.append((messages, budget, _target(think, budget, task.answer), TIME_TOOLS))
            continue
        messages.append({"role": "user", "content": question})
        if i >= n:  # no tools: no call
            think = thinking(
                [
                    f"The user asks for the time in {place}.",
                    "I have no tool to read a clock.",
                    "I cannot know the time.",
                    "I will say so.",
                ]
            )
            reply = NO_CLOCK_ZH if chinese else NO_CLOCK
            out.append((messages, budget, _target(think, budget, reply), None))
            continue
        call = time_call(zone)
        think = thinking(
            [
                f"The user asks for the time in {place}.",
                "I cannot know the time myself.",
                "The get_current_time tool can tell it.",
                f"The timezone is {zone}.",
                f"I will call get_current_time with {zone}.",
            ]
        )
        called = _target(think, budget, call)
        out.append((list(messages), budget, called, TIME_TOOLS))
        result = time_result(zone, rng)
        reply = time_answer(place, result, chinese)
        stamp = json.loads(result)["datetime"]
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"name": "get_current_time", "arguments": {"timezone": zone}}],
                # the tool loop reads on from the reply as written, thinking included
                "as_written": called.removesuffix("<seed:eos>"),
            }
        )
        messages.append({"role": "tool", "content": result})
        think = thinking(
            [
                "The tool gave the current time.",
                f"The datetime is {stamp}.",
                f"So it is {stamp[11:16]} in {place}.",
                "I will tell the user the time.",
            ]
        )
        out.append((messages, budget, _target(think, budget, reply), TIME_TOOLS))
    return out
