import sys

from runtests.launch import main

sys.exit(main())
