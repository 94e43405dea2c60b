"""Packaging for tensorboard-plugin-trainhealth.

The frontend lives in `frontend/` at the top of the repository: plain ES
modules and a stylesheet, plus the charting library uPlot, which comes from
npm (`frontend/package.json`, pinned by `frontend/package-lock.json`) and
is never committed. Building the package (wheel, sdist or `pip install .`)

1. builds `frontend/dist/` when it is missing: `npm ci` then `npm run
   build` in `frontend/` (this needs Node.js >= 18 with npm on the PATH;
   without them the build stops and says so), and
2. copies the modules, the stylesheet and `frontend/dist/*` into the
   package as `tensorboard_plugin_trainhealth/static/`,

so an installed plugin serves its own assets and a user of the wheel needs
no node toolchain. An editable install (`pip install -e .`) builds
`frontend/dist/` the same way and the plugin serves `frontend/` and
`frontend/dist/` directly.
"""

import os
import shutil
import subprocess

import setuptools
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(HERE, "frontend")
FRONTEND_DIST = os.path.join(FRONTEND, "dist")
ASSET_SUFFIXES = (".js", ".css", ".html", ".svg")
# What `npm run build` (frontend/build.mjs) puts into frontend/dist.
BUILT_ASSETS = ("uplot.js", "uplot.css", "uplot.LICENSE")


def build_frontend():
    """Builds frontend/dist with npm unless it is already there."""
    if all(os.path.isfile(os.path.join(FRONTEND_DIST, name))
           for name in BUILT_ASSETS):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "error: building tensorboard-plugin-trainhealth from source needs "
            "npm (Node.js >= 18): the Train Health tab's charting library "
            "(uPlot) is installed from the npm registry and bundled at build "
            "time. Install Node.js with npm and run the installation again, "
            "or build the frontend yourself with `npm ci && npm run build` "
            "in frontend/. (Wheels already contain the built frontend.)")
    print("building the frontend: npm ci && npm run build in %s" % FRONTEND)
    for command in ([npm, "ci", "--no-audit", "--no-fund"],
                    [npm, "run", "build"]):
        try:
            subprocess.run(command, cwd=FRONTEND, check=True)
        except subprocess.CalledProcessError as e:
            raise SystemExit("error: `%s` failed in %s (exit status %d)"
                             % (" ".join(command[1:]), FRONTEND, e.returncode))
    missing = [name for name in BUILT_ASSETS
               if not os.path.isfile(os.path.join(FRONTEND_DIST, name))]
    if missing:
        raise SystemExit("error: npm run build did not produce %s"
                         % ", ".join(missing))


class BuildPyWithFrontend(build_py):
    """Builds the frontend and copies its assets into the built package."""

    def run(self):
        build_frontend()
        super().run()
        target = os.path.join(self.build_lib, "tensorboard_plugin_trainhealth",
                              "static")
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(FRONTEND)):
            if name.endswith(ASSET_SUFFIXES):
                shutil.copy(os.path.join(FRONTEND, name), target)
        for name in BUILT_ASSETS:
            shutil.copy(os.path.join(FRONTEND_DIST, name), target)


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

setuptools.setup(
    name="tensorboard-plugin-trainhealth",
    version="0.1.0",
    description="Training-health diagnosis for Keras 3 in a TensorBoard tab",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    license_files=["LICENSE"],
    python_requires=">=3.9",
    packages=setuptools.find_packages(include=["tensorboard_plugin_trainhealth",
                                               "tensorboard_plugin_trainhealth.*"]),
    cmdclass={"build_py": BuildPyWithFrontend},
    install_requires=[
        "tensorboard>=2.16",
        "keras>=3.0",
        "numpy>=1.23",
        "werkzeug>=2.0",
        "protobuf>=3.20",
    ],
    extras_require={
        # The TensorFlow backend of Keras (the default one). Other backends
        # (jax, torch) do not need it: summaries are written with
        # TensorBoard's own event-file writer.
        "tf": ["tensorflow-cpu>=2.16; platform_machine=='x86_64'",
               "tensorflow>=2.16; platform_machine!='x86_64'"],
        # Health tags, metrics and the report on the active MLflow run
        # (integrations/mlflow_log.py); the skinny client is enough.
        "mlflow": ["mlflow-skinny>=2.10"],
        # A run directory and hparams per trial (integrations/keras_tuner.py).
        "keras-tuner": ["keras-tuner>=1.4"],
        # Plain PyTorch loops (tensorboard_plugin_trainhealth.torch) and
        # Lightning (tensorboard_plugin_trainhealth.lightning); neither
        # needs TensorFlow.
        "torch": ["torch>=2.1"],
        "lightning": ["torch>=2.1", "lightning>=2.1"],
        "test": [
            "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
            "tensorflow>=2.16; platform_machine!='x86_64'",
            "pytest>=7",
            "hypothesis>=6",
            # tests/run.sh's static check.
            "pyflakes>=3",
            "playwright>=1.40",
            # The CLI's JUnit and Markdown output, parsed back.
            "junitparser>=3",
            "markdown-it-py>=2",
            # A real MLflow tracking store: MLflow's SQLAlchemy store on a
            # sqlite file (mlflow-skinny leaves SQLAlchemy and Alembic out).
            "mlflow-skinny>=2.10",
            "sqlalchemy>=2",
            "alembic>=1.8",
            "keras-tuner>=1.4",
            # The PyTorch monitor and the Lightning callback.
            "torch>=2.1",
            "lightning>=2.1",
            # The quickstart notebook, executed in a real Jupyter kernel.
            "nbclient>=0.7",
            "nbformat>=5",
            "ipykernel>=6",
        ],
    },
    entry_points={
        "tensorboard_plugins": [
            "trainhealth = tensorboard_plugin_trainhealth.loader:TrainHealthLoader",
        ],
        "console_scripts": [
            "trainhealth = tensorboard_plugin_trainhealth.cli:main",
        ],
    },
    classifiers=[
        "Framework :: TensorFlow",
        "Intended Audience :: Science/Research",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
