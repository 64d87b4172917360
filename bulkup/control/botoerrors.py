"""botocore's exception classes, loaded when one is first looked at.

The modules that call boto3 catch its errors (``except bex.ClientError``). Imported from
``botocore.exceptions`` at the top, those handlers would load botocore (and urllib3) with
the module, ~0.2 s, even in a run that never calls boto3: a few small files sent from the
coordinator's own connections with every answer remembered. Imported from here instead,
``bex.ClientError`` loads botocore only when it is evaluated: when a handler is reached,
which takes an exception raised inside its ``try``, and a boto3 call in it to raise one of
botocore's. A run that calls boto3 has loaded botocore already.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """``botocore.exceptions.<name>`` (PEP 562: asked for a name this module lacks)."""
    return getattr(importlib.import_module("botocore.exceptions"), name)
