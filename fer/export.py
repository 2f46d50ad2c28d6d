"""`python -m fer.export`: the command; its code is `fer.training.export`."""

import sys

from fer.training.export import main

if __name__ == "__main__":
    sys.exit(main())
