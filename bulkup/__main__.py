import sys

from bulkup.cli.main import main

sys.exit(main())
