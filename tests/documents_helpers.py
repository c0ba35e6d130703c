"""Files for the attachment tests, made by code (no committed binaries): PDFs with text
on each page (written by pypdf), plain and encrypted."""

from __future__ import annotations

import io


def raw_pdf(pages: list[str]) -> bytes:
    """A small PDF whose page i shows ``pages[i]`` in Helvetica (ASCII, no parentheses)."""
    n = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {n} >>"]
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET"
        objects.append(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 {3 + 2 * n} 0 R >> >> /Contents {4 + 2 * i} 0 R >>"
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    trailer = f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    return out + trailer.encode()


def make_pdf(pages: list[str], password: str | None = None) -> bytes:
    """The PDF of ``pages`` as pypdf's writer saves it (encrypted with ``password``)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(raw_pdf(pages)))
    if password is not None:
        writer.encrypt(password, algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# -- pictures of text, for OCR -------------------------------------------------------------

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def text_image(lines: list[str], size: int = 40, width: int = 1400):
    """A white picture with ``lines`` drawn in black (DejaVu Sans, else Pillow's own font)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype(FONT, size)
    except OSError:
        font = ImageFont.load_default(size=size)
    step = int(size * 1.6)
    image = Image.new("RGB", (width, 40 + step * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((30, 20 + step * i), line, fill="black", font=font)
    return image


def image_bytes(image, format: str = "PNG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format)
    return buf.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A one-page PDF that is only a picture of ``lines`` (no text layer), black and white
    as many scanners write it (Pillow's PDF writer: the image and nothing else)."""
    return image_bytes(text_image(lines).convert("1"), "PDF")


def joined_pdf(*pdfs: bytes) -> bytes:
    """The pages of ``pdfs`` in one PDF, in order."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for pdf in pdfs:
        writer.append(io.BytesIO(pdf))
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


PARAGRAPH = [
    "Photosynthesis converts sunlight into chemical energy.",
    "Chlorophyll absorbs mostly blue and red light.",
]


def words_of(lines: list[str]) -> list[str]:
    return [w.strip(".,").lower() for line in lines for w in line.split()]


def assert_words(text: str, lines: list[str]) -> None:
    """Every word drawn is in ``text`` (OCR may drop a space between two words)."""
    squeezed = text.lower().replace(" ", "")
    missing = [w for w in words_of(lines) if w not in squeezed]
    assert not missing, f"{missing} not in {text!r}"
