import pathlib
import sys

# The helpers module sits next to the tests and the drill runner at the repository
# root; molecule runs pytest from the scenario directory.
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))
