"""Blocks of README.md that a command writes from committed results, never typed by hand.

A block sits between two HTML comments, ``<!-- <name>:start (<command> writes this block)
-->`` and ``<!-- <name>:end -->``; :func:`replace_block` rewrites what is between them and a
test compares the README's block with what the command would write now
(``tests/test_stats_agreement.py``, ``tests/test_standard_summary.py``).

>>> start, end = markers("demo", "python -m demo")
>>> start
'<!-- demo:start (python -m demo writes this block) -->'
>>> text = f"intro\\n{start}\\nold\\n{end}\\nrest\\n"
>>> read_block(text, start, end)
'old\\n'
>>> replace_block_text(text, start, end, "new\\n").splitlines()[2]
'new'
"""

from __future__ import annotations

from pathlib import Path

NOT_COMMITTED = "The standard runs are not committed yet.\n"  # a block's body until they are


def markers(name: str, command: str) -> tuple[str, str]:
    """The start and end comments of block ``name``, written by ``command``."""
    return f"<!-- {name}:start ({command} writes this block) -->", f"<!-- {name}:end -->"


def _split(text: str, start: str, end: str, where: str = "the text") -> tuple[str, str, str]:
    if start not in text or end not in text:
        raise ValueError(f"{where} has no block {start} ... {end}")
    head, rest = text.split(start, 1)
    body, tail = rest.split(end, 1)
    return head, body.removeprefix("\n"), tail


def read_block(text: str, start: str, end: str) -> str:
    """What stands between the markers in ``text`` (the newline after ``start`` dropped)."""
    return _split(text, start, end)[1]


def replace_block_text(text: str, start: str, end: str, body: str) -> str:
    """``text`` with the block's body replaced by ``body`` (which ends in a newline)."""
    head, _, tail = _split(text, start, end)
    return f"{head}{start}\n{body}{end}{tail}"


def replace_block(path, start: str, end: str, body: str) -> bool:
    """Rewrite the block in the file at ``path``; True if the file changed."""
    path = Path(path)
    text = path.read_text()
    try:
        new = replace_block_text(text, start, end, body)
    except ValueError as error:
        raise ValueError(str(error).replace("the text", str(path), 1)) from None
    path.write_text(new)
    return new != text
