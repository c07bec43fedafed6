"""MkDocs hook: links from a page to repository files outside docs/ (source files, READMEs, tests).

The Markdown pages link to source files relatively (`[stats](../tdmpc_parity/core/stats.py)`), which works where the
repository is browsed as files (GitHub, an editor). The built site holds only docs/, so MkDocs would report
those links as missing. This hook rewrites a link whose target exists in the repository outside docs/: to
`repo_url`/blob/main/<path> when mkdocs.yml sets `repo_url`, else to its text plus the path as code. Every
other link is left to MkDocs' own check (`mkdocs build --strict` fails on a broken one, including a link to a
repository file that does not exist).
"""

from __future__ import annotations

import os
import re
from typing import Any

LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)", re.M)


def _rewrite(match: re.Match[str], page_dir: str, docs_dir: str, root: str, repo_url: str | None) -> str:
    text, target = match.groups()
    if "://" in target or target.startswith(("#", "mailto:", "/")):
        return match.group(0)
    path, _, anchor = target.partition("#")
    full = os.path.normpath(os.path.join(page_dir, path))
    inside_docs = full == docs_dir or full.startswith(docs_dir + os.sep)
    if inside_docs or not full.startswith(root + os.sep) or not os.path.exists(full):
        return match.group(0)
    rel = os.path.relpath(full, root).replace(os.sep, "/")
    if repo_url:
        return f"[{text}]({repo_url.rstrip('/')}/blob/main/{rel}{'#' + anchor if anchor else ''})"
    return text if rel in text else f"{text} (`{rel}`)"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Rewrite the links to repository files outside docs/, except inside fenced code blocks."""
    docs_dir = os.path.normpath(config["docs_dir"])
    root = os.path.dirname(docs_dir)
    page_dir = os.path.dirname(os.path.normpath(page.file.abs_src_path))
    repo_url = config.get("repo_url")
    parts = FENCE.split(markdown)
    out, in_code, i = [], False, 0
    while i < len(parts):  # split with one group: text, fence, text, fence, ...
        chunk = parts[i]
        out.append(chunk if in_code else LINK.sub(lambda m: _rewrite(m, page_dir, docs_dir, root, repo_url), chunk))
        if i + 1 < len(parts):
            out.append(parts[i + 1])
            in_code = not in_code
        i += 2
    return "".join(out)
