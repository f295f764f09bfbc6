"""Ships the notebooks in the wheel: notebooks/*.ipynb -> pose3d_nb/data/notebooks/.

The checkout keeps them in notebooks/ (``./run demo`` serves them from there); an installed
package has only what is inside pose3d_nb/, so the build copies them in, and ``pose3d demo``
copies them on to a working folder (``pose3d_nb.lab.notebook_dir``). Everything else is in
pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"


class BuildPyWithNotebooks(build_py):
    """build_py, plus the notebooks as package data of pose3d_nb."""

    def run(self):
        super().run()
        if self.editable_mode:  # an editable install serves notebooks/ from the checkout
            return
        target = Path(self.build_lib, "pose3d_nb", "data", "notebooks")
        target.mkdir(parents=True, exist_ok=True)
        for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
            shutil.copyfile(notebook, target / notebook.name)


setup(cmdclass={"build_py": BuildPyWithNotebooks})
