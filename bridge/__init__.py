

import logging as _logging

# A library's logger stays silent until an application (the CLI) gives it a handler.
_logging.getLogger("bridge").addHandler(_logging.NullHandler())
