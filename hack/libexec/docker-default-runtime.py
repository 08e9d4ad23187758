"""Make a runtime Docker's default, merging it into daemon.json.

    python3 docker-default-runtime.py /etc/docker/daemon.json /path/to/runtime

Registers the runtime as "lso-runc" and makes it the default runtime; keeps
every other setting. Prints "changed" when the file was rewritten (dockerd
reads it only at start), nothing when it already said so. Run by hack/docker.sh.
"""

import json
import os
import sys

cfg, wrapper = sys.argv[1], sys.argv[2]
data = {}
if os.path.exists(cfg):
    with open(cfg) as f:
        data = json.load(f) or {}
want = dict(data)
want.setdefault("runtimes", {})["lso-runc"] = {"path": wrapper}
want["default-runtime"] = "lso-runc"
if want != data:
    with open(cfg, "w") as f:
        json.dump(want, f, indent=2)
    print("changed")
