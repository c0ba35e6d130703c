import subprocess
import sys

import seedchat
from seedchat import cli
from seedchat.errors import SeedchatError


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "seedchat", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_version(cli_env):
    proc = run("--version", env=cli_env)
    assert proc.returncode == 0 and proc.stdout.strip() == f"seedchat {seedchat.__version__}"


def test_help_lists_every_verb(cli_env):
    out = run("--help", env=cli_env).stdout
    for verb in ("ui", "chat", "convert", "models", "history", "doctor"):
        assert verb in out


class _Failing:
    """A verb that raises the kind of error the library raises."""

    @staticmethod
    def register(sub):
        def fail(_args):
            raise SeedchatError("The model file x.gguf is truncated.", hint="Convert it again.")

        sub.add_parser("fail").set_defaults(func=fail)


def test_seedchat_error_prints_message_and_hint_without_traceback(monkeypatch, capsys):
    real = cli._verb_modules
    monkeypatch.setattr(cli, "_verb_modules", lambda: [*real(), _Failing])
    assert cli.main(["fail"]) == 1
    err = capsys.readouterr().err
    assert "error: The model file x.gguf is truncated." in err and "Convert it again." in err
    assert "Traceback" not in err
    assert cli.main(["--debug", "fail"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_default_verb_is_ui(monkeypatch):
    called = []
    monkeypatch.setattr(cli, "_verb_modules", lambda: [_Recorder(called)])
    assert cli.main([]) == 0 and called == ["ui"]


class _Recorder:
    def __init__(self, called):
        self.called = called

    def register(self, sub):
        sub.add_parser("ui").set_defaults(func=lambda _a: self.called.append("ui") or 0)
