"""`seedchat doctor`: check the installation and say what to fix."""

from __future__ import annotations

import argparse
import json

from seedchat.cli.console import console
from seedchat.doctor import Status, run_doctor

_MARKS = {
    Status.OK: "[green]✓[/]",
    Status.INFO: "[blue]·[/]",
    Status.WARN: "[yellow]![/]",
    Status.FAIL: "[bold red]✗[/]",
}


def register(sub) -> None:
    parser = sub.add_parser(
        "doctor", help="Check the installation, backend, GPUs, paths and models"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = run_doctor()
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "checks": [
                        {
                            "name": c.name,
                            "status": c.status.value,
                            "detail": c.detail,
                            "hint": c.hint,
                        }
                        for c in report.checks
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for c in report.checks:
            console.print(f"{_MARKS[c.status]} [bold]{c.name}[/]: {c.detail}", soft_wrap=True)
            if c.hint:
                console.print(f"    [yellow]→[/] {c.hint}", soft_wrap=True)
        n = len(report.failures)
        console.print(
            "[green]All good.[/]"
            if report.ok
            else f"[bold red]{n} problem{'s' if n > 1 else ''} to fix (see ✗ above).[/]"
        )
    return 0 if report.ok else 1
