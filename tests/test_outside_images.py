"""Outside images in the chat's text become links naming their host
(seedchat.ui.outside_images), and every builder of the chat's messages applies it
(seedchat.ui.render.shown_message). The browser's side (nothing fetched, the placeholders drawn,
the policy) is in tests/test_ui_outside_images.py."""

from __future__ import annotations

import re

import pytest

from seedchat.documents.read import Document
from seedchat.events import AnswerDelta, Done, ThinkingDelta, ThinkingEnd, ThinkingStart
from seedchat.store import Store, export_json, export_markdown, import_json
from seedchat.ui.conversations import open_conversation
from seedchat.ui.outside_images import (
    code_blocks,
    css_urls,
    outside_url,
    placeholder,
    shown_text,
    srcset_urls,
    without_outside_images,
)
from seedchat.ui.render import TurnView, user_message
from seedchat.ui.tool_cards import saved_card

HOST = "x.example"


def links(text: str) -> list[str]:
    """The placeholders' addresses in ``text``."""
    return re.findall(r'<span class="outside-image"><a href="([^"]*)"', text)


def assert_replaced(text: str, url: str = "http://x.example/p", kind: str = "image") -> str:
    out = without_outside_images(text)
    assert links(out) == [url], out
    assert f"{kind} from {HOST} — open" in out
    assert without_outside_images(out) == out  # already safe: unchanged
    return out


# -- Markdown --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "![x](http://x.example/p)",
        'see ![a photo](http://x.example/p "its title") here',
        "![x](<http://x.example/p>)",
        "![x]( http://x.example/p )",
        "![a [nested] alt](http://x.example/p)",
        "**bold ![x](http://x.example/p) bold**",
        "[![x](http://x.example/p)](#here)",
    ],
)
def test_a_markdown_image_becomes_a_link_naming_its_host(text: str):
    out = assert_replaced(text)
    assert "![" not in out


@pytest.mark.parametrize(
    "text,url",
    [
        ("![x][ref]\n\n[ref]: http://x.example/p", "http://x.example/p"),
        ("![x][]\n\n[X]: <http://x.example/p> 'title'", "http://x.example/p"),
        ("![Some  Label]\n\n[some label]:\n  http://x.example/p", "http://x.example/p"),
        ("> ![x][r]\n>\n> [r]: //x.example/p", "//x.example/p"),
        ("![x](HTTPS://x.example/p)", "HTTPS://x.example/p"),
        ("![x](h&#116;tp://x.example/p)", "http://x.example/p"),
        ("![x](http\\://x.example/p)", "http://x.example/p"),
        ("![x](//x.example/p)", "//x.example/p"),
    ],
)
def test_reference_and_encoded_images_are_found(text: str, url: str):
    assert_replaced(text, url)


def test_links_stay_links_and_local_images_stay():
    text = (
        "[a link](http://x.example/page) <http://x.example/auto> "
        "[ref link][r] ![ok](data:image/png;base64,iVBORw0KGgo=) ![own](/gradio_api/file=a.png) "
        '<a href="https://x.example/">html link</a> ![blob](blob:http://127.0.0.1/abc)'
        "\n\n[r]: http://x.example/ref"
    )
    assert without_outside_images(text) == text


# -- HTML ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,kind",
    [
        ('<img src="http://x.example/p">', "image"),
        ("<IMG SRC=http://x.example/p>", "image"),
        ("<img src='http://x.example/p' alt=\"x > y\">", "image"),
        ("<img\nalt=a\n  src = http://x.example/p >", "image"),
        ("<img/src=http://x.example/p>", "image"),
        ('<img src="http&#58;//x.example/p">', "image"),
        ('<img src=" \thttp://x.example/p">', "image"),
        ('<img src="data:image/png;base64,AA" srcset="http://x.example/p 2x">', "image"),
        ('<img srcset="data:image/png;base64,AA,BB 1x, http://x.example/p 2x">', "image"),
        ('<picture><source srcset="http://x.example/p"></picture>', "media"),
        ('<svg><image href="http://x.example/p"/></svg>', "image"),
        ('<svg><image xlink:href="http://x.example/p"></image></svg>', "image"),
        ('<svg><use href="http://x.example/p"/></svg>', "image"),
        ("<div style=\"background:url('http://x.example/p')\">x</div>", "image"),
        ('<div style="background: URL( http://x.example/p )">x</div>', "image"),
        ('<div style="background:u\\72l(http://x.example/p)">x</div>', "image"),
        ('<div style="background:/**/url(http://x.example/p)">x</div>', "image"),
        ("<div style=\"background-image:image-set('http://x.example/p' 1x)\">x</div>", "image"),
        ('<span style="background:url(&quot;http://x.example/p&quot;)">x</span>', "image"),
        ('<table background="http://x.example/p"><tr><td>x</td></tr></table>', "image"),
        ('<input type="image" src="http://x.example/p">', "image"),
        ('<link rel="stylesheet" href="http://x.example/p">', "linked file"),
        ('<link rel="dns-prefetch" href="http://x.example/p">', "linked file"),
        ('<video poster="http://x.example/p"></video>', "video"),
        ('<video><source src="http://x.example/p"></video>', "media"),
        ('<audio src="http://x.example/p" autoplay></audio>', "audio"),
        ('<iframe src="http://x.example/p"></iframe>', "embedded page"),
        ('<object data="http://x.example/p"></object>', "embedded page"),
        ('<embed src="http://x.example/p">', "embedded page"),
        ('<meta http-equiv="refresh" content="0; url=http://x.example/p">', "redirect"),
        ('<style>@import "http://x.example/p";</style>', "stylesheet"),
        ("<style>body { background: url(http://x.example/p) }</style>", "stylesheet"),
        ('<a href="#" ping="http://x.example/p">x</a>', "image"),
        ('<base href="http://x.example/p">', "image"),
    ],
)
def test_an_html_tag_that_fetches_from_outside_is_replaced(text: str, kind: str):
    out = assert_replaced(text, kind=kind)
    assert "x.example/p" not in out.replace(links(out)[0], "")  # nowhere but the link


def test_backslashes_and_protocol_relative_addresses_are_outside():
    assert outside_url("//x.example/p") == "//x.example/p"
    assert outside_url("\\\\x.example/p") == "//x.example/p"
    assert outside_url("/\\x.example/p") == "//x.example/p"
    assert outside_url("http:\\\\x.example") == "http://x.example"
    assert outside_url("ftp://x.example/p") == "ftp://x.example/p"
    for own in ("/gradio_api/file=a.png", "a.png", "#top", "?q=1", "data:image/png;base64,AA"):
        assert outside_url(own) is None


def test_a_style_element_is_replaced_whole():
    out = without_outside_images("<style>p { background: url(//x.example/p) }</style>after")
    assert links(out) == ["//x.example/p"] and out.endswith("</span>after")


def test_an_address_that_is_no_web_address_is_never_made_a_link():
    for text in ('<img src="javascript:alert(1)">', "![x](javascript:alert(1))"):
        out = without_outside_images(text)
        assert "javascript" not in out and "<a " not in out
        assert "image not shown" in out


def test_a_forms_tags_are_dropped():
    text = '<FORM action="/x" method=post><input name=q><button>go</button></form >'
    assert without_outside_images(text) == "<input name=q><button>go</button>"
    assert without_outside_images("a </formula> b") == "a </formula> b"


def test_the_placeholder_opens_in_a_new_tab_without_a_referrer():
    html = placeholder('http://x.example/p?a="b"&c=<d>')
    assert 'target="_blank"' in html and 'rel="noopener noreferrer"' in html
    assert 'referrerpolicy="no-referrer"' in html
    assert 'href="http://x.example/p?a=&quot;b&quot;&amp;c=&lt;d&gt;"' in html


def test_srcset_and_css_are_read_as_the_browser_reads_them():
    assert srcset_urls("data:a,b 1x,http://x.example/p 2x, /own.png") == [
        "data:a,b",
        "http://x.example/p",
        "/own.png",
    ]
    css = "a { b: u\\72l('//x.example/p') } /* url(http://c) */"
    assert set(css_urls(css)) == {"//x.example/p"}


# -- code stays as written -------------------------------------------------------------


def test_code_shows_what_was_written():
    fenced = "````md\n![x](http://x.example/p)\n<img src=http://x.example/p>\n````\n"
    indented = "text\n\n    <img src=http://x.example/p>\n"
    inline = 'Embed one with `<img src="http://x.example/p">` or ``![x](http://x.example/p)``.'
    for text in (fenced, indented, inline):
        assert without_outside_images(text) == text


def test_code_next_to_latex_stays_as_written():
    for text in (
        "$$ a $$ `<img src=http://x.example/p>`",
        "\\[x\\]\n\n```\n![x](http://x.example/p)\n```\n",
    ):
        assert without_outside_images(text) == text


def test_code_blocks_are_found_as_markdown_reads_them():
    text = "a\r\n```\r\ncode\r\n```\r\nb\n\n    indented\n"
    blocks = code_blocks(text)
    assert [text[s:e] for s, e in blocks] == ["```\r\ncode\r\n```\r\n", "    indented\n"]


def test_what_only_looks_like_code_is_rewritten():
    cases = [
        # an unclosed fence inside a list item ends with the item: the image is shown
        "- ```\n![x](http://x.example/p)",
        # a code span does not cross lines here: rewritten (a changed code sample is safe)
        "`a\n![x](http://x.example/p)`",
        # a backtick inside a tag or a link's address opens no code span
        '<a title="`">x</a> ![x](http://x.example/p) `',
        "[a](/b`c) ![x](http://x.example/p) `",
        # gradio takes LaTeX out before Markdown: a fence or a backtick in it is gone
        "$$\n```\n$$\n![x](http://x.example/p)\n```\n",
        "`<img src=http://x.example/p> $$ a` $$",
        "\\(`\\) ![x](http://x.example/p) `",
        # an HTML block: the browser reads the tag
        "<div>\n<img src=http://x.example/p>\n</div>",
    ]
    for text in cases:
        assert links(without_outside_images(text)) == ["http://x.example/p"], text


def test_text_without_images_is_untouched():
    text = "Plain *answer* with a [link](http://x.example) and 3 < 4 > 2.\n\n| a | b |\n|---|---|"
    assert without_outside_images(text) == text


# -- the page's chat ---------------------------------------------------------------


def test_what_gradio_dedents_is_rewritten_as_dedented():
    # gradio dedents a message first: this indented "code" is then an image
    text = "Here:\n\n    ![x](http://x.example/p)\n"
    assert without_outside_images(text) == text  # (as written, it is code)
    assert links(shown_text(text)) == ["http://x.example/p"]
    assert shown_text(shown_text(text)) == shown_text(text)


def test_every_message_the_chat_is_built_from_is_rewritten():
    view = TurnView(budget=512)
    for event in [
        ThinkingStart(),
        ThinkingDelta("hm ![t](http://x.example/t)", 3),
        ThinkingEnd(3, 0.1),
        AnswerDelta("see <img src=http://x.example/a>"),
        Done("stop"),
    ]:
        view.apply(event)
    thinking, answer = view.messages()
    assert links(thinking["content"]) == ["http://x.example/t"]
    assert links(answer["content"]) == ["http://x.example/a"]
    text = "doc ![d](http://x.example/q)"
    doc = Document("n.md", "markdown", text, len(text), "0" * 64)
    assert links(user_message("![q](http://x.example/q)", [doc])["content"]) == [
        "http://x.example/q"
    ]
    media = [
        {"kind": "resource_link", "uri": "http://x.example/r", "name": "![r](http://x.example/r)"}
    ]
    card = saved_card("<img src=http://x.example/c>", {"media": media}, "t", {}, "c1")
    assert "<img src=http://x.example/c>" in card["content"]  # a result is shown as written
    assert links(card["content"]) == []  # (in a code block, and the names escaped)


def test_an_imported_conversation_and_pasted_markdown_export_show_placeholders(tmp_path):
    with Store(tmp_path / "a.db") as store:
        conv = store.create_conversation(title="t")
        store.add_message(conv.id, "user", "q ![q](http://x.example/q)")
        store.add_message(
            conv.id,
            "assistant",
            "a <IMG SRC=//x.example/a>",
            thinking="<img src=http://x.example/t>",
        )
        exported = export_json(store)
        markdown = export_markdown(store)
    with Store(tmp_path / "b.db") as other:
        imported = import_json(other, exported).imported[0]
        chat = open_conversation(other, imported).chat
    found = [url for message in chat for url in links(message["content"])]
    assert found == ["http://x.example/q", "http://x.example/t", "//x.example/a"]
    pasted = user_message(markdown)["content"]  # the Markdown export, pasted as a question
    assert sorted(links(pasted)) == ["//x.example/a", "http://x.example/q", "http://x.example/t"]
