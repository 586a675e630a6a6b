"""``docs/rules.md``, written from the registry: ``python -m lockaudit.rules.docs [--check]``.

Every rule of ``check`` and ``audit`` with its code, name, default severity, what it reports,
why it matters and a bad and a good example (:mod:`lockaudit.rules.catalog`). ``--check``
writes nothing and exits 1 when the file differs from what the registry says (the test suite
runs it, so the page never drifts from the code).

This is a documentation tool, not part of a command: it loads the audit's rules too (the one
place under ``rules/`` that imports the layer above, to list them).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lockaudit.rules import RuleSpec, rule_specs
from lockaudit.rules.catalog import SUBJECTS, doc_of

__all__ = ["main", "render_rules_page"]

PAGE = Path(__file__).resolve().parents[2] / "docs" / "rules.md"

_FENCE = {"Dockerfile": "dockerfile", "requirements": "text", "text": "text", "toml": "toml"}


def render_rules_page(specs: tuple[RuleSpec, ...]) -> str:
    """The Markdown page for ``specs`` (code order)."""
    out = [
        "# Rules",
        "",
        "Generated from the rule registry by `python -m lockaudit.rules.docs`; do not edit by "
        "hand.",
        "",
        "Every finding of `lockaudit check` and `lockaudit audit` carries the code and the name "
        "of its rule. Either selects it in `--select`/`--ignore` (a code prefix such as `LA4` "
        "or a name prefix such as `lock-` selects a group), in `[tool.lockaudit.audit]` "
        '(`select`, `ignore`, `severity = {LA110 = "error"}`) and in an inline ignore: '
        "`# lockaudit: ignore[LA302] reason` on a comment line directly above a Dockerfile "
        "instruction, or at the end of a requirements line (codes or names, comma-separated). "
        "An inline ignore that silences nothing is reported as LA902; the summary counts what "
        "inline ignores silenced, per code.",
        "",
        "| code | name | command | default severity | what it reports |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        anchor = _anchor(spec)
        code = f"[{spec.code}](#{anchor})" if spec.code else "none"
        out.append(
            f"| {code} | `{spec.id}` | {spec.command} | {spec.severity.value} | "
            f"{spec.description} |"
        )
    subject = None
    for spec in specs:
        doc = doc_of(spec.id)
        heading = SUBJECTS.get(spec.code[:3], "Rules without a code yet")
        if heading != subject:
            subject = heading
            out += ["", f"## {heading}"]
        title = f"{spec.code} {spec.id}" if spec.code else spec.id
        out += [
            "",
            f"### {title}",
            "",
            f"`{spec.command}`, {spec.severity.value} by default: {spec.description}.",
        ]
        if doc is None:
            out += ["", "Not documented yet."]
            continue
        out += ["", doc.why, "", "Bad:", "", *_block(doc.bad, doc.bad_file)]
        out += ["", "Good:", "", *_block(doc.good, doc.good_file or doc.bad_file)]
    return "\n".join(out) + "\n"


def _anchor(spec: RuleSpec) -> str:
    return f"{spec.code}-{spec.id}".lower() if spec.code else spec.id


def _block(text: str, kind: str) -> list[str]:
    return [f"```{_FENCE.get(kind, 'text')}", *text.rstrip("\n").split("\n"), "```"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    page = render_rules_page(rule_specs())
    if "--check" in args:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != page:
            sys.stderr.write(f"{PAGE.name} is out of date: run `python -m lockaudit.rules.docs`\n")
            return 1
        return 0
    PAGE.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
