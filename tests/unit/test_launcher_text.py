"""The scripts pyrunc/launcher.py writes: the interpreter compiles a script on every run (a script
has no .pyc), so each is one statement whose code is a marshalled constant (issue 15)."""

import ast
import marshal
import subprocess
import sys

from pyrunc.launcher import launcher_body, launcher_text, wheel_command_body, wheel_command_text


def the_one_statement(text: str) -> ast.Call:
    body = ast.parse(text).body
    assert len(body) == 1, ast.dump(ast.Module(body=body, type_ignores=[]))[:300]
    (statement,) = body
    assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)
    assert isinstance(statement.value.func, ast.Name) and statement.value.func.id == "exec"
    return statement.value


def compiled_code(text: str):
    (loads,) = the_one_statement(text).args
    (constant,) = loads.args
    return marshal.loads(constant.value)


def test_the_launcher_is_one_statement_that_runs_its_body_compiled(tmp_path):
    bundle = str(tmp_path / "hot.bundle")
    text = launcher_text(bundle=bundle)
    assert text.startswith(f"#!{sys.executable} -IS\n")
    code = compiled_code(text)
    assert code.co_filename == "<pyrunc/launcher.py launcher_body>"
    assert code == compile(launcher_body(bundle=bundle), code.co_filename, "exec", dont_inherit=True)
    assert bundle in code.co_consts


def test_the_wheels_command_is_one_statement_that_runs_its_body_compiled():
    text = wheel_command_text()
    code = compiled_code(text)
    assert code == compile(wheel_command_body(), code.co_filename, "exec", dont_inherit=True)


def test_a_written_launcher_runs_the_command(tmp_path):
    script = tmp_path / "pyrunc"
    script.write_text(launcher_text(bundle=str(tmp_path / "absent.bundle")))
    script.chmod(0o755)
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("pyrunc version ")
