import sys

from .load import main

sys.exit(main())
