"""The built packages carry what a user of them needs: the license, the tab."""

import os
import subprocess
import sys
import tarfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_wheel_and_sdist_ship_the_license_and_the_frontend(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path), ROOT],
                   check=True, capture_output=True)
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d",
                    str(tmp_path)], cwd=ROOT, check=True, capture_output=True)
    [wheel] = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
    [sdist] = [f for f in os.listdir(tmp_path) if f.endswith(".tar.gz")]
    with zipfile.ZipFile(tmp_path / wheel) as z:
        names = z.namelist()
        [license_name] = [n for n in names if n.endswith("/LICENSE")
                          and ".dist-info/" in n]
        assert b"Apache License" in z.read(license_name)
        assert "tensorboard_plugin_trainhealth/static/index.js" in names
        assert "tensorboard_plugin_trainhealth/static/uplot.js" in names
    with tarfile.open(tmp_path / sdist) as t:
        names = t.getnames()
    assert any(n.endswith("/LICENSE") and n.count("/") == 1 for n in names)
    assert any(n.endswith("/frontend/index.js") for n in names)
