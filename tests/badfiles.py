"""Files that once stopped a build (issue 12): each is one instance of a class a build must survive.

>>> TRUNCATED_UTF16
b'\\xff\\xfeA'
"""

from __future__ import annotations

from .pdfgen import assemble

TRUNCATED_UTF16 = b"\xff\xfeA"  # a UTF-16 byte-order mark and half a character: UnicodeDecodeError


def pdf_with_cmap(text: str, mapping: dict[str, str]) -> bytes:
    """One page showing ``text`` whose font's ToUnicode map sends each character of ``mapping`` to the
    given UTF-16 hex (``{"o": "D800"}``: every "o" extracts as a lone surrogate, which tokenizers and
    UTF-8 writers reject)."""
    pairs = "\n".join(f"<{ord(k):02X}> <{v}>" for k, v in mapping.items())
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def "
            "1 begincodespacerange <00> <FF> endcodespacerange\n"
            f"{len(mapping)} beginbfchar\n{pairs}\nendbfchar\n"
            "endcmap CMapName currentdict /CMap defineresource pop end end").encode()
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream"]
    return assemble(objects)


def surrogate_pdf() -> bytes:
    return pdf_with_cmap("Hello world. Ships sail at dawn.", {"o": "D800"})


def html_table(rows: int, wide: int = 2000) -> str:
    """A table whose first cell is ``wide`` characters: laid out as text, every row's first column is
    padded to that width, so a few KB of HTML become megabytes of text."""
    first = "<tr><td>" + "w" * wide + "</td><td>x</td></tr>"
    return "<html><body><table>" + first + "<tr><td>a</td><td>b</td></tr>" * rows + "</table></body></html>"
