"""Packaging for tensorboard-plugin-trainhealth.

The frontend lives in `frontend/` at the top of the repository. Building the
package (wheel, sdist or `pip install .`) copies it into the package as
`tensorboard_plugin_trainhealth/static/`, so an installed plugin serves its
own assets and a user needs no node toolchain. An editable install serves
`frontend/` directly.
"""

import os
import shutil

import setuptools
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
FRONTEND = os.path.join(HERE, "frontend")
ASSET_SUFFIXES = (".js", ".css", ".html", ".svg")


class BuildPyWithFrontend(build_py):
    """Copies the frontend assets into the built package."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "tensorboard_plugin_trainhealth",
                              "static")
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(FRONTEND)):
            if name.endswith(ASSET_SUFFIXES):
                shutil.copy(os.path.join(FRONTEND, name), target)


with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
    LONG_DESCRIPTION = f.read()

setuptools.setup(
    name="tensorboard-plugin-trainhealth",
    version="0.1.0",
    description="Training-health diagnosis for Keras 3 in a TensorBoard tab",
    long_description=LONG_DESCRIPTION,
    long_description_content_type="text/markdown",
    license="Apache-2.0",
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
        "test": [
            "tensorflow-cpu>=2.16; platform_machine=='x86_64'",
            "tensorflow>=2.16; platform_machine!='x86_64'",
            "pytest>=7",
            "hypothesis>=6",
            "playwright>=1.40",
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
