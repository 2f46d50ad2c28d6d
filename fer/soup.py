"""`python -m fer.soup`: the command; its code is `fer.training.soup`."""

import sys

from fer.training.soup import main

if __name__ == "__main__":
    sys.exit(main())
