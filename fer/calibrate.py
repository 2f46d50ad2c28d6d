"""`python -m fer.calibrate`: the command; its code is `fer.training.calibrate`."""

import sys

from fer.training.calibrate import main

if __name__ == "__main__":
    sys.exit(main())
