"""Print MediaMTX's paths, one a line, from its Control API's /v3/paths/list.

    ... /v3/paths/list | python3 mediamtx-paths.py

Reads the JSON answer on stdin. Run by hack/ps.sh.
"""

import json
import sys

for p in json.load(sys.stdin)["items"]:
    src = (p.get("source") or {}).get("type")
    print(f"{p['name']:<40} available={p.get('available')} source={src}")
