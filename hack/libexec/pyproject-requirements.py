"""Print a pyproject.toml's requirements, one a line, for `pip install -r`.

    python3 pyproject-requirements.py pyproject.toml [EXTRA...] >requirements.txt

The project's dependencies and its build backend's requirements: the images
install them in a layer of their own (rebuilt only when pyproject.toml
changes), then the package without build isolation; EXTRA names optional
dependency groups to add (the operator image's `gemini`). Run by
hack/build-images.sh.
"""

import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    data = tomllib.load(f)
extras = [dep for name in sys.argv[2:] for dep in data["project"]["optional-dependencies"][name]]
print("\n".join(data["project"]["dependencies"] + extras + data["build-system"]["requires"]))
