"""Names vulture cannot see used: each is reached by a library, by name, or by a protocol.

``make lint`` runs vulture with this file; a name here is used, not dead.
"""

# ruff: noqa: B018, F821
# Parameters a typed protocol or a library's callback must declare, though unused here.
off_out  # kernel/uring.py: liburing's io_uring_prep_splice(..., off_out, ...)
ignore_prefix  # pools/raypool.py: Ray calls print_to_stdstream(data, ignore_prefix=...)
print_to_stdstream  # pools/raypool.py: replaces Ray's own, which Ray calls
_negative_number_matcher  # cli/main.py: argparse reads it to tell "-1" from a flag
__getattr__  # bulkup/__init__.py: the module's lazy attributes (PEP 562)
__path__  # kernel/uring.py: a package made by hand for importlib
__spec__
# Fields read by name: argparse keywords built from an option's declaration.
const  # options/registry.py
nargs
# Journal states written and read in SQL text.
SKIPPED  # migrate/journal.py
# Read in a child interpreter by its name (a string of code).
_self_test  # transport/engines/uring.py
# Commands' functions, imported by name when the command runs (cli/commands.py: "module:function").
run_migrate  # cli/migrate.py
run_resume
run_status
# nginx log fields parsed into a record, kept whole for reading in a debugger.
request_length  # bench/lib/discard.py
connection_requests
uri
