import sys

from runtests.cli import main

sys.exit(main())
