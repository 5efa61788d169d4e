"""The suite runs against the installed package, never the source tree: the source tree's
`bflow/` has no compiled `_bflow`, so importing it from there would fail or test stale code."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
# pytest puts the rootdir (python/) on sys.path in some modes; drop it so `import bflow`
# finds the installed wheel.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != SOURCE]

import bflow  # noqa: E402

if os.path.dirname(os.path.dirname(os.path.abspath(bflow.__file__))) == SOURCE:
    raise RuntimeError(
        f"bflow was imported from the source tree ({bflow.__file__}); install the wheel "
        "(pip install ./python) and run pytest from outside python/ or with --import-mode=append"
    )

REPO = os.path.dirname(SOURCE)
EXAMPLES = os.path.join(REPO, "examples", "problems")
