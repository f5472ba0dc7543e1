import sys

from mars_zoo.cli import main

sys.exit(main())
