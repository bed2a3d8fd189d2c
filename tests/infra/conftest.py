import pathlib
import sys

# The helpers module sits next to the tests; molecule runs pytest from elsewhere.
sys.path.insert(0, str(pathlib.Path(__file__).parent))
