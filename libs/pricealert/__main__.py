import sys

from pricealert.cli import main

sys.exit(main())
