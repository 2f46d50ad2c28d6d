"""`python -m fer.evaluate`: the command; its code is `fer.training.evaluate`."""

import sys

from fer.training.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
