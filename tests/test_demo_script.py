"""demo/run.sh prints the address TensorBoard really serves on."""

import os
import shutil
import stat
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fake_venv(root):
    """A venv whose python does nothing and whose tensorboard says its args
    (the script's own logic is under test, not pip or TensorBoard)."""
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("python", "exit 0"),
                       ("tensorboard", 'echo "tensorboard args: $*"')):
        path = bin_dir / name
        path.write_text("#!/usr/bin/env bash\n%s\n" % body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return root / "venv"


def _run_demo(tmp_path, *args):
    (tmp_path / "demo").mkdir()
    shutil.copy(os.path.join(ROOT, "demo", "run.sh"), tmp_path / "demo")
    venv = _fake_venv(tmp_path)
    result = subprocess.run(
        ["bash", str(tmp_path / "demo" / "run.sh"), *args],
        capture_output=True, text=True,
        env=dict(os.environ, TRAINHEALTH_VENV=str(venv)))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_printed_address_uses_the_port_asked_for(tmp_path):
    out = _run_demo(tmp_path, "--port", "6123")
    assert "open http://localhost:6123/#trainhealth" in out
    assert "--port 6123" in out.split("tensorboard args:")[1]


def test_the_default_port_is_tensorboards(tmp_path):
    out = _run_demo(tmp_path)
    assert "open http://localhost:6006/#trainhealth" in out


def test_port_given_as_one_argument(tmp_path):
    out = _run_demo(tmp_path, "--port=7001")
    assert "open http://localhost:7001/#trainhealth" in out
