"""`python -m fer.train`: the command; its code is `fer.training.loop`."""

import sys

from fer.training.loop import main

if __name__ == "__main__":
    sys.exit(main())
