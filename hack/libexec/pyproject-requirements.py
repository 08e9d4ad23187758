"""Print a pyproject.toml's requirements, one a line, for `pip install -r`.

    python3 pyproject-requirements.py pyproject.toml >requirements.txt

The project's dependencies and its build backend's requirements: the images
install them in a layer of their own (rebuilt only when pyproject.toml
changes), then the package without build isolation. Run by hack/build-images.sh.
"""

import sys
import tomllib

with open(sys.argv[1], "rb") as f:
    data = tomllib.load(f)
print("\n".join(data["project"]["dependencies"] + data["build-system"]["requires"]))
