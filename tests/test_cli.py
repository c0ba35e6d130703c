import json

import seedchat
from seedchat import cli
from seedchat.errors import SeedchatError
from tests.cli_run import run, run_python


def test_version(cli_env):
    proc = run("--version", env=cli_env)
    assert proc.returncode == 0 and proc.stdout.strip() == f"seedchat {seedchat.__version__}"


def test_help_lists_every_verb(cli_env):
    out = run("--help", env=cli_env).stdout
    for verb in ("ui", "chat", "convert", "models", "history", "doctor"):
        assert verb in out
    assert "List the GGUF models seedchat knows" in out  # each with its help


def test_a_command_imports_its_own_verb_only(cli_env):
    """Hundreds of `seedchat` commands run in the tests and in scripts: one does not pay
    for every verb's imports (the chat's store, the converters, the hub)."""
    proc = run_python(
        "import sys",
        "from seedchat.cli import main",
        "main(['models', '--json'])",
        "print(*sys.modules, file=sys.stderr)",
        env=cli_env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)[0]["source"] == "demo"
    imported = set(proc.stderr.split())
    assert "seedchat.cli.models" in imported
    others = {f"seedchat.cli.{verb}" for verb in cli.VERBS if verb != "models"}
    assert not imported & others, sorted(imported & others)
    assert not {"seedchat.store", "seedchat.converters", "gradio"} & imported


class _Failing:
    """A verb that raises the kind of error the library raises."""

    @staticmethod
    def register(sub):
        def fail(_args):
            raise SeedchatError("The model file x.gguf is truncated.", hint="Convert it again.")

        sub.add_parser("fail").set_defaults(func=fail)


def verbs_from(monkeypatch, **stand_ins) -> None:
    """The command with ``stand_ins`` (a verb's name: its module) for verbs."""
    real = cli._verb_module
    monkeypatch.setattr(cli, "VERBS", (*cli.VERBS, *(v for v in stand_ins if v not in cli.VERBS)))
    monkeypatch.setattr(cli, "_verb_module", lambda verb: stand_ins.get(verb) or real(verb))


def test_seedchat_error_prints_message_and_hint_without_traceback(monkeypatch, capsys):
    verbs_from(monkeypatch, fail=_Failing)
    assert cli.main(["fail"]) == 1
    err = capsys.readouterr().err
    assert "error: The model file x.gguf is truncated." in err and "Convert it again." in err
    assert "Traceback" not in err
    assert cli.main(["--debug", "fail"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_default_verb_is_ui(monkeypatch):
    called = []
    verbs_from(monkeypatch, ui=_Recorder(called))
    assert cli.main([]) == 0 and called == ["ui"]


def test_the_default_verb_takes_its_options_without_being_named(monkeypatch):
    seen = []
    verbs_from(monkeypatch, ui=_Recorder(seen, keep_args=True))
    assert cli.main(["--port", "8000"]) == 0
    assert cli.main(["--debug", "--no-browser"]) == 0
    assert cli.main(["ui", "--port", "9"]) == 0
    assert [(a.command, a.port, a.no_browser, a.debug) for a in seen] == [
        ("ui", 8000, False, False),
        ("ui", None, True, True),
        ("ui", 9, False, False),
    ]


def test_with_default_verb_leaves_named_verbs_and_help_alone():
    verbs = ("ui", "chat")
    assert cli.with_default_verb(["chat", "--port"], verbs) == ["chat", "--port"]
    assert cli.with_default_verb(["--help"], verbs) == ["--help"]
    assert cli.with_default_verb(["--debug", "--version"], verbs) == ["--debug", "--version"]
    assert cli.with_default_verb([], verbs) == ["ui"]
    assert cli.with_default_verb(["--debug"], verbs) == ["--debug", "ui"]


class _Recorder:
    """A stand-in ``ui`` verb that records how it was called."""

    def __init__(self, called, keep_args: bool = False):
        self.called = called
        self.keep_args = keep_args

    def register(self, sub):
        ui = sub.add_parser("ui")
        ui.add_argument("--port", type=int)
        ui.add_argument("--no-browser", action="store_true")
        ui.set_defaults(func=self.run)

    def run(self, args):
        self.called.append(args if self.keep_args else "ui")
        return 0


def test_chat_help_names_lookup_and_c_with_an_optional_id(cli_env):
    out = " ".join(run("chat", "--help", env=cli_env).stdout.split())
    assert "--lookup" in out and "--no-lookup" in out
    assert "-c [ID], --conversation [ID]" in out and "the most recent one" in out


def test_chat_serve_and_ui_read_their_shared_options_alike():
    parser = cli.build_parser()
    serve = parser.parse_args(["serve", "--no-lookup", "--gpu-layers", "3", "--context", "4096"])
    assert (serve.lookup_decoding, serve.gpu_layers, serve.context) == ("off", 3, 4096)
    chat = parser.parse_args(["chat", "--lookup", "--gpu-layers", "auto", "--api-key", "k"])
    assert (chat.lookup_decoding, chat.gpu_layers, chat.engine_key) == ("auto", "auto", "k")
    plain = parser.parse_args(["serve"])
    assert (plain.lookup_decoding, plain.gpu_layers) == (None, None)  # the settings decide
    ui = parser.parse_args(["ui", "--engine-url", "http://h:1/v1", "--engine-key", "s"])
    assert (ui.engine_url, ui.engine_key) == ("http://h:1/v1", "s")


def test_a_wrong_gpu_layers_value_is_an_argument_error(cli_env):
    proc = run("serve", "--gpu-layers", "many", env=cli_env)
    assert proc.returncode == 2
    assert "--gpu-layers: 'auto' or a number of layers, not 'many'" in proc.stderr


def test_the_verbs_import_their_console_and_options_not_the_package_root():
    import ast
    from pathlib import Path

    here = Path(cli.__file__).parent
    for path in here.glob("*.py"):
        if path.name == "__init__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        roots = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "seedchat.cli"
        ]
        assert roots == [], f"{path.name} imports from seedchat/cli/__init__.py"
