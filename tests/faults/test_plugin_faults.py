"""Fault corpus, plugin faults: a plugin that raises, exits, prints, changes directory or
returns garbage at import, registration, load or encode time.

Every case runs the real CLI on a plugin file in a --plugins-dir and asserts the exit code,
one error paragraph naming the plugin or model and what failed, no traceback, and that no
result was written or overwritten. Runs use the synthetic mini benchmark, landform task only,
without the embedding cache, so each case costs about a second.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from boundary_helpers import assert_clean_error, cli, write_plugin

PREVIOUS = '{"a result": "written before"}\n'

# (case id, command, fault snippets, exit code, what the message must say)
CASES = [
    ("import-raises", "list", {"top": "raise RuntimeError('no GPU driver found')"}, 3,
     ["failed to import: RuntimeError: no GPU driver found", "import-raises.py"]),
    ("import-exits-0", "list", {"top": "sys.exit(0)"}, 3,
     ["failed to import: it called sys.exit(0)", "import-exits-0.py"]),
    ("import-exits-message", "list", {"top": "sys.exit('giving up')"}, 3,
     ["failed to import: it called sys.exit('giving up')"]),
    ("import-missing-module", "list", {"top": "import acme_sdk_that_does_not_exist"}, 3,
     ["failed to import: ModuleNotFoundError", "acme_sdk_that_does_not_exist"]),
    ("import-syntax-error", "list", {"top": "def broken(:"}, 3,
     ["import-syntax-error.py failed to import: SyntaxError"]),
    ("register-raises", "list", {"register": "raise ValueError('bad config')"}, 3,
     ["Plugin 'register-raises'", "failed while registering its models: ValueError: bad config"]),
    ("register-exits", "list", {"register": "sys.exit(0)"}, 3,
     ["Plugin 'register-exits'", "failed while registering its models: it called sys.exit(0)"]),
    ("register-not-a-spec", "list", {"register": "register('acme/x')"}, 2,
     ["Plugin 'register-not-a-spec' registered 'acme/x', which is not a mars_zoo.ModelSpec"]),
    ("register-builtin-name", "list",
     {"register": "register(ModelSpec(name='openclip/tiny-random', family='openclip', checkpoint='x', loader=load))"}, 2,
     ["'openclip/tiny-random'", "already registered"]),
    ("load-import-fails", "run", {"load": "import acme_sdk_that_does_not_exist"}, 3,
     ["Model 'load-import-fails/model' (plugin load-import-fails) failed to load on cpu: ModuleNotFoundError",
      "mars-zoo check load-import-fails/model"]),
    ("load-exits-0", "run", {"load": "sys.exit(0)"}, 3,
     ["Model 'load-exits-0/model'", "failed to load on cpu: it called sys.exit(0)"]),
    ("load-returns-none", "run", {"load": "return None"}, 3,
     ["Model 'load-returns-none/model'", "loaded as NoneType, which has no encode_image or encode_text method"]),
    ("load-weights-not-as-declared", "run",
     {"load": "import torch\nencoder = FaultyEncoder()\nencoder.model = torch.nn.Linear(4, 4).to(torch.bfloat16)\n"
              "return encoder"}, 3,
     ["Model 'load-weights-not-as-declared/model'", "loaded on cpu at precision fp32 holds bfloat16 weights",
      "declares float32", "spec.weights_torch_dtype(device, precision)"]),
    ("load-weights-partly-half", "run",
     {"load": "import torch\nencoder = FaultyEncoder()\nencoder.towers = torch.nn.ModuleList([torch.nn.Linear(4, 4), "
              "torch.nn.Linear(4, 4).half()])\nreturn encoder"}, 3,
     ["Model 'load-weights-partly-half/model'", "holds float16, float32 weights", "declares float32"]),
    ("encode-image-exits-0", "run", {"image": "sys.exit(0)"}, 3,
     ["Model 'encode-image-exits-0/model'", "failed in encode_image on a batch of 8 images: it called sys.exit(0)"]),
    ("encode-image-exits-1", "run", {"image": "raise SystemExit(1)"}, 3,
     ["failed in encode_image on a batch of 8 images: it called sys.exit(1)"]),
    ("encode-text-raises", "run", {"text": "raise KeyError('tokenizer vocabulary')"}, 3,
     ["Model 'encode-text-raises/model'", "failed in encode_text", "KeyError"]),
    ("encode-image-returns-list", "run", {"image": "return [[0.0] * 4] * len(images)"}, 3,
     ["Model 'encode-image-returns-list/model'", "returned a list, not a torch.Tensor from encode_image"]),
    ("encode-image-nan", "run", {"image": "return _features([float('nan')] * len(images))"}, 3,
     ["Model 'encode-image-nan/model'", "non-finite values"]),
    ("encode-text-wrong-dim", "run", {"text": "import torch\nreturn torch.zeros(len(texts), 7)"}, 3,
     ["Model 'encode-text-wrong-dim/model'", "dimension 7, but 4 from its declared embedding_dim"]),
    ("encode-image-memory", "run", {"image": "raise MemoryError()"}, 3,
     ["failed in encode_image on a batch of 8 images: MemoryError"]),
    ("check-encode-exits", "check", {"image": "sys.exit(0)"}, 1,
     []),
    ("check-load-exits", "check", {"load": "sys.exit(3)"}, 1,
     []),
    ("check-unknown-model", "check-typo", {}, 2,
     ["Unknown model 'check-unknown-model/modle'", "Did you mean 'check-unknown-model/model'"]),
]


def _command(kind: str, name: str, directory: Path, out: Path) -> list:
    if kind == "list":
        return ["list", "--json", "--plugins-dir", directory]
    if kind == "check":
        return ["check", f"{name}/model", "--plugins-dir", directory]
    if kind == "check-typo":
        return ["check", f"{name}/modle", "--plugins-dir", directory]
    return ["run", f"{name}/model", "--benchmark", "mini", "--tasks", "landform", "--no-cache",
            "--out", out, "--plugins-dir", directory]


@pytest.mark.parametrize("name, kind, faults, code, needles", CASES, ids=[case[0] for case in CASES])
def test_plugin_fault_is_one_named_error_and_nothing_is_written(tmp_path, capsys, name, kind, faults, code, needles):
    directory = tmp_path / "plugins"
    write_plugin(directory, name, **faults)
    out = tmp_path / "result.json"
    out.write_text(PREVIOUS)
    outcome = cli(capsys, *_command(kind, name, directory, out))
    if kind == "check":  # a failed check is a row of the table, not an error
        assert outcome.code == code and "Traceback" not in outcome.err + outcome.out
        text = " ".join(outcome.out.split())
        assert "FAIL" in text and "it called sys.exit(" in text and f"'{name}/model'" in text
    else:
        assert_clean_error(outcome, code, *needles)
        assert outcome.out == ""  # nothing on stdout: `list --json` output is all or nothing
    assert out.read_text() == PREVIOUS  # nothing lost, nothing (half-)written


def test_plugin_prints_go_to_stderr_and_list_json_stays_valid(tmp_path, capsys):
    directory = tmp_path / "plugins"
    write_plugin(directory, "chatty", top="print('chatty: imported')", register="print('chatty: registering')")
    outcome = cli(capsys, "list", "--json", "--plugins-dir", directory)
    assert outcome.code == 0
    assert "chatty/model" in {row["name"] for row in json.loads(outcome.out)}
    assert "chatty: imported" in outcome.err and "chatty: registering" in outcome.err


def test_plugin_prints_while_encoding_stay_off_stdout(tmp_path, capsys):
    directory = tmp_path / "plugins"
    write_plugin(directory, "noisy", load="print('NOISY-LOAD')", image="print('NOISY-IMAGE')",
                 text="print('NOISY-TEXT')")
    out = tmp_path / "r.json"
    outcome = cli(capsys, "run", "noisy/model", "--benchmark", "mini", "--tasks", "landform", "--no-cache",
                  "--out", out, "--plugins-dir", directory)
    assert outcome.code == 0, outcome.err
    assert "NOISY" not in outcome.out
    assert all(word in outcome.err for word in ("NOISY-LOAD", "NOISY-IMAGE", "NOISY-TEXT"))
    assert json.loads(out.read_text())["tasks"]["landform"]["metrics"]["map"] > 0


def test_prints_of_an_image_transform_in_worker_processes_stay_off_stdout(tmp_path):
    """The image transform runs in DataLoader worker processes; its prints go to stderr there too."""
    directory = tmp_path / "plugins"
    write_plugin(directory, "workers", top="""
        def _transform(image):
            import numpy as np
            import torch

            print("NOISY-WORKER", flush=True)
            return torch.tensor(np.asarray(image.convert("L").resize((4, 4)), dtype=np.float32))
    """, load="FaultyEncoder.image_transform = staticmethod(_transform)")
    out = tmp_path / "r.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "mars_zoo", "run", "workers/model", "--benchmark", "mini",
                             "--tasks", "landform", "--no-cache", "--workers", "1", "--out", str(out),
                             "--plugins-dir", str(directory)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NOISY-WORKER" in result.stderr and "NOISY-WORKER" not in result.stdout
    assert json.loads(out.read_text())["tasks"]["landform"]["dataset"]["items"] == 96


def test_output_of_child_processes_and_c_code_stays_off_stdout(tmp_path):
    """What bypasses sys.stdout (a child process, os.write on descriptor 1) goes to stderr too."""
    directory = tmp_path / "plugins"
    write_plugin(directory, "native", top="print('PY-IMPORT')",
                 load="import subprocess\nsubprocess.run(['echo', 'CHILD-LOAD'], check=True)",
                 image="os.write(1, b'FD-IMAGE\\n')")
    out = tmp_path / "r.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="1000")
    result = subprocess.run([sys.executable, "-m", "mars_zoo", "run", "native/model", "--benchmark", "mini",
                             "--tasks", "landform", "--no-cache", "--out", str(out), "--plugins-dir", str(directory)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ("PY-IMPORT", "CHILD-LOAD", "FD-IMAGE"):
        assert noise in result.stderr and noise not in result.stdout, noise
    assert "Task 2: landform retrieval" in result.stdout and f"result written to {out}" in result.stdout


@pytest.mark.parametrize("where", ["top", "load", "image"])
def test_a_plugin_that_changes_directory_cannot_move_the_result(tmp_path, capsys, monkeypatch, where):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(work)  # restored after the test, whatever the plugin does
    directory = tmp_path / "plugins"
    write_plugin(directory, "wanderer", **{where: f"os.chdir({str(elsewhere)!r})"})
    outcome = cli(capsys, "run", "wanderer/model", "--benchmark", "mini", "--tasks", "landform", "--no-cache",
                  "--out", "results/r.json", "--plugins-dir", "../plugins")
    assert outcome.code == 0, outcome.err
    assert Path.cwd() == elsewhere  # the plugin did move us ...
    written = work / "results" / "r.json"  # ... but the result is where the user asked
    assert json.loads(written.read_text())["model"]["name"] == "wanderer/model"
    assert not (elsewhere / "results").exists()
    assert str(written) in " ".join(outcome.out.split())


def test_check_under_python_O_still_fails_a_batch_dependent_model(tmp_path):
    """`check` raises its own error, never `assert`: -O strips asserts, not the check."""
    directory = tmp_path / "plugins"
    write_plugin(directory, "mixer", image="""
        features = _features([float(np.asarray(image, dtype=np.float64).mean()) / 255.0 for image in images])
        return features + features.mean(dim=0, keepdim=True)
    """)
    env = dict(os.environ, HF_HUB_OFFLINE="1", COLUMNS="1000")
    result = subprocess.run([sys.executable, "-O", "-m", "mars_zoo", "check", "mixer/model", "--plugins-dir",
                             str(directory)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "FAIL" in text and "changes with its batch" in text
    assert "Traceback" not in result.stderr


def test_sys_exit_in_encode_under_a_real_interpreter_exits_non_zero(tmp_path):
    """The original failure: `run` exited 0 with no result and no message."""
    directory = tmp_path / "plugins"
    write_plugin(directory, "quitter", image="sys.exit(0)")
    out = tmp_path / "r.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-m", "mars_zoo", "run", "quitter/model", "--benchmark", "mini",
                             "--tasks", "landform", "--no-cache", "--out", str(out), "--plugins-dir", str(directory)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 3
    assert "it called sys.exit(0)" in " ".join(result.stderr.split())
    assert not out.exists()


def test_an_installed_plugin_that_exits_at_import_is_named_with_its_package(tmp_path):
    from test_plugins import make_distribution, mars_zoo_cli

    site = make_distribution(tmp_path, "quitting-mars-plugin", "import sys\nsys.exit(0)\n")
    result = mars_zoo_cli("list", "--json", pythonpath=site)
    assert result.returncode == 3 and result.stdout == "" and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "Plugin 'quitting' (entry point 'quitting_mars_plugin' of quitting-mars-plugin 1.2.3) failed to " \
           "import: it called sys.exit(0)" in message
    assert "pip uninstall quitting-mars-plugin" in message and "MARS_ZOO_LOAD_PLUGINS" in message


# The plugin surface: a hook mars-zoo does not have, a file with no hook, helper modules.

GOOD_HOOK = "@mars_zoo.hookimpl\ndef register_models(register):"


def plugin_source(family: str, hook: str = GOOD_HOOK, imports: str = "", family_expr: str | None = None) -> str:
    """A plugin file whose function `hook` (decorator and def line) registers `<family>/model`;
    `family_expr` computes the family instead (from a helper, say)."""
    family_expr = family_expr or repr(family)
    return (f"import mars_zoo\n{imports}\n\n\n{hook}\n"
            f"    register(mars_zoo.ModelSpec(name={family_expr} + '/model', family={family_expr}, checkpoint='x', "
            "loader=lambda *args: None, license='mit', embedding_dim=4, parameters=1, random_weights=True))\n")


def write_files(directory: Path, files: dict[str, str]) -> None:
    for relative, source in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)


def declared_hooks() -> str:
    """The hooks of mars_zoo/models/hookspecs.py with their arguments, read from the module itself."""
    import inspect

    from mars_zoo.models import hookspecs

    return ", ".join(f"{name}({', '.join(inspect.signature(function).parameters)})"
                     for name, function in sorted(vars(hookspecs).items()) if hasattr(function, "mars_zoo_spec"))


HOOKS_LISTED = re.compile(r"The hooks a plugin may implement, declared in mars_zoo/models/hookspecs\.py, are: (.*?)\. ")

# (case id, hook definition, what the message must say, the suggestion or None)
MISSPELLED_HOOKS = [
    ("hook-name-singular", "@mars_zoo.hookimpl\ndef register_model(register):",
     ["hook 'register_model', which mars-zoo does not have"], "register_models"),
    ("hook-name-transposed", "@mars_zoo.hookimpl\ndef register_modles(register):",
     ["hook 'register_modles', which mars-zoo does not have"], "register_models"),
    ("hook-name-case", "@mars_zoo.hookimpl\ndef Register_Models(register):",
     ["hook 'Register_Models', which mars-zoo does not have"], "register_models"),
    ("hook-specname-typo", "@mars_zoo.hookimpl(specname='register_model')\ndef models(register):",
     ["hook 'register_model' (function models), which mars-zoo does not have"], "register_models"),
    ("hook-name-unrelated", "@mars_zoo.hookimpl\ndef setup(register):",
     ["hook 'setup', which mars-zoo does not have"], None),
    ("hook-argument-typo", "@mars_zoo.hookimpl\ndef register_models(regsiter):",
     ["register_models(regsiter)", "'regsiter'"], None),
]


@pytest.mark.parametrize("name, hook, needles, suggestion", MISSPELLED_HOOKS, ids=[case[0] for case in MISSPELLED_HOOKS])
def test_a_hook_mars_zoo_does_not_have_is_one_error_listing_only_the_real_hooks(tmp_path, capsys, name, hook,
                                                                              needles, suggestion):
    directory = tmp_path / "plugins"
    write_files(directory, {f"{name}.py": plugin_source(name, hook=hook)})
    outcome = cli(capsys, "list", "--json", "--plugins-dir", directory)
    assert_clean_error(outcome, 2, f"Plugin '{name}' (--plugins-dir file {directory / f'{name}.py'})", *needles)
    listed = HOOKS_LISTED.search(outcome.message)
    assert listed and listed.group(1) == declared_hooks(), outcome.message
    if suggestion:
        assert f"Did you mean '{suggestion}'?" in outcome.message
    else:
        assert "Did you mean" not in outcome.message
    assert outcome.out == ""


def warnings_of(outcome) -> list[str]:
    """The warning paragraphs on stderr, whitespace collapsed."""
    return [" ".join(part.split()) for part in outcome.err.split("warning:")[1:]]


# (case id, the plugin file's source, what the warning must say)
NO_HOOK = [
    ("no-decorator", plugin_source("no-decorator", hook="def register_models(register):"),
     ["its register_models function is not decorated with @mars_zoo.hookimpl"]),
    ("other-project-marker", plugin_source("other-project-marker", imports="import pluggy",
                                           hook="@pluggy.HookimplMarker('marszoo')\ndef register_models(register):"),
     ["its register_models function is not decorated with @mars_zoo.hookimpl"]),
    ("helper-without-underscore", "def shared_transform(image):\n    return image\n",
     ["it has no function decorated with @mars_zoo.hookimpl", "a helper module", "name starting with '_'"]),
]


@pytest.mark.parametrize("name, source, needles", NO_HOOK, ids=[case[0] for case in NO_HOOK])
def test_a_plugin_file_without_a_hook_is_loaded_with_a_warning_that_it_registers_nothing(tmp_path, capsys, name,
                                                                                       source, needles):
    directory = tmp_path / "plugins"
    write_files(directory, {f"{name}.py": source, "good.py": plugin_source("good")})
    outcome = cli(capsys, "list", "--json", "--plugins-dir", directory)
    assert outcome.code == 0, outcome.err
    assert "good/model" in {row["name"] for row in json.loads(outcome.out)}  # the command went on
    [warning] = warnings_of(outcome)
    assert f"Plugin '{name}' (--plugins-dir file {directory / f'{name}.py'}) registers nothing" in warning, warning
    assert all(needle in warning for needle in needles), warning


HELPER = "FAMILY = 'helped'\n"
# (case id, files beside the plugin `uses.py`, the plugin's import of FAMILY)
HELPER_LAYOUTS = [
    ("underscore-module", {"_helpers.py": HELPER}, "from ._helpers import FAMILY"),
    ("underscore-module-as-module", {"_helpers.py": HELPER}, "from . import _helpers\nFAMILY = _helpers.FAMILY"),
    ("folder-package", {"tools/__init__.py": "", "tools/names.py": HELPER}, "from .tools.names import FAMILY"),
    ("folder-without-init", {"tools/names.py": HELPER}, "from .tools.names import FAMILY"),
    ("helper-importing-helper", {"_helpers.py": "from ._base import BASE\nFAMILY = BASE\n",
                                 "_base.py": "BASE = 'helped'\n"}, "from ._helpers import FAMILY"),
    ("unused-helpers-never-run", {"_helpers.py": HELPER, "_unused.py": "raise RuntimeError('must never run')\n",
                                  "_draft.py": "def broken(:\n", "lib/broken.py": "raise RuntimeError('never')\n",
                                  "lib/__init__.py": "raise RuntimeError('never')\n"},
     "from ._helpers import FAMILY"),
]


@pytest.mark.parametrize("name, files, imports", HELPER_LAYOUTS, ids=[case[0] for case in HELPER_LAYOUTS])
def test_helper_modules_are_importable_by_plugins_and_never_loaded_as_plugins(tmp_path, capsys, name, files, imports):
    directory = tmp_path / "plugins"
    write_files(directory, {**files, "uses.py": plugin_source("", imports=imports, family_expr="FAMILY")})
    outcome = cli(capsys, "plugins", "--json", "--plugins-dir", directory)
    assert outcome.code == 0, outcome.err
    assert [row["name"] for row in json.loads(outcome.out) if row["origin"] == "plugins-dir"] == ["uses"]
    assert warnings_of(outcome) == []
    listed = cli(capsys, "list", "--json", "--plugins-dir", directory)
    assert "helped/model" in {row["name"] for row in json.loads(listed.out)}, listed.err


def test_a_helper_with_a_syntax_error_is_named_in_the_plugins_import_error(tmp_path, capsys):
    directory = tmp_path / "plugins"
    write_files(directory, {"_helpers.py": "FAMILY = 'helped'\ndef broken(:\n",
                            "uses.py": plugin_source("", imports="from ._helpers import FAMILY", family_expr="FAMILY")})
    outcome = cli(capsys, "list", "--json", "--plugins-dir", directory)
    assert_clean_error(outcome, 3, f"Plugin file {directory / 'uses.py'} failed to import: SyntaxError",
                       f"{directory / '_helpers.py'}, line 2")


@pytest.mark.parametrize("statement", ["from _helpers import FAMILY", "import _helpers", "from tools.names import FAMILY"])
def test_a_helper_imported_as_a_top_level_module_gets_the_relative_import_to_use(tmp_path, capsys, statement):
    directory = tmp_path / "plugins"
    write_files(directory, {"_helpers.py": HELPER, "tools/names.py": HELPER,
                            "uses.py": plugin_source("uses", imports=statement)})
    outcome = cli(capsys, "list", "--json", "--plugins-dir", directory)
    helper = statement.split()[1].split(".")[0]
    assert_clean_error(outcome, 3, f"Plugin file {directory / 'uses.py'} failed to import: ModuleNotFoundError",
                       f"'{helper}' is beside it in --plugins-dir", f"from .{helper} import")


def test_an_installed_plugin_without_a_hook_is_loaded_with_a_warning(tmp_path):
    from test_plugins import make_distribution, mars_zoo_cli

    site = make_distribution(tmp_path, "empty-mars-plugin", "def register_models(register):\n    pass\n")
    result = mars_zoo_cli("plugins", "--json", pythonpath=site, env_extra={"COLUMNS": "1000"})
    assert result.returncode == 0, result.stderr
    assert {"name": "empty", "origin": "entry-point", "package": "empty-mars-plugin", "version": "1.2.3",
            "hooks": []} in json.loads(result.stdout)
    warning = " ".join(result.stderr.split())
    assert "warning: Plugin 'empty' (entry point of empty-mars-plugin 1.2.3) registers nothing: its " \
           "register_models function is not decorated with @mars_zoo.hookimpl" in warning, warning


def test_an_installed_plugin_with_a_misspelled_hook_is_named_with_its_distribution(tmp_path):
    from test_plugins import make_distribution, mars_zoo_cli

    site = make_distribution(tmp_path, "typo-mars-plugin", plugin_source("typo", hook=MISSPELLED_HOOKS[0][1]))
    result = mars_zoo_cli("list", "--json", pythonpath=site)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "Plugin 'typo' (entry point of typo-mars-plugin 1.2.3) implements hook 'register_model', which " \
           "mars-zoo does not have. Did you mean 'register_models'?" in message, message


def test_one_module_under_two_entry_points_is_one_error(tmp_path):
    from test_plugins import make_distribution, mars_zoo_cli

    site = make_distribution(tmp_path, "twice-mars-plugin", plugin_source("twice"))
    (tmp_path / "twice_mars_plugin-1.2.3.dist-info" / "entry_points.txt").write_text(
        "[mars_zoo]\ntwice = twice_mars_plugin\ntwice-again = twice_mars_plugin\n")
    result = mars_zoo_cli("list", "--json", pythonpath=site)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "Plugin 'twice-again' (entry point of twice-mars-plugin 1.2.3) is the module that plugin 'twice' " \
           "(entry point of twice-mars-plugin 1.2.3) already loaded" in message, message
