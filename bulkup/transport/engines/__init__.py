"""Send engines, best first, and the choice among them."""
from __future__ import annotations

from bulkup.kernel.availability import Availability
from bulkup.transport.engines.base import SendEngine, path_label
from bulkup.transport.engines.sendfile import SendfileEngine
from bulkup.transport.engines.uring import UringEngine
from bulkup.transport.engines.userspace import UserspaceEngine

# Best first, by measurement (``make bench``, "against its floor"): one sendfile call per part
# cost 0.56 CPU-s/GiB over plain HTTP where io_uring's linked splice chains cost 0.74, and was
# faster in wall time too; the extra pipe hop costs more than batching saves.
PREFERENCE: list[type[SendEngine]] = [SendfileEngine, UringEngine, UserspaceEngine]
ORDER_REASON = "ahead of uring: measured cheaper in CPU and faster (bulkup's benchmark, against the floor)"
ENGINES: dict[str, type[SendEngine]] = {engine.name: engine for engine in PREFERENCE}


class EngineUnavailable(Exception):
    """A forced engine that cannot run here."""


def choose_engine(requested: str, tls: bool) -> tuple[type[SendEngine], str]:
    """The engine to use and why: the forced one, or the best available."""
    if requested != "auto":
        engine = ENGINES.get(requested)
        if engine is None:
            raise EngineUnavailable(f"unknown engine {requested!r} (choose from auto, {', '.join(ENGINES)})")
        verdict = engine.available(tls)
        if not verdict:
            raise EngineUnavailable(f"engine {requested} cannot run: {verdict.reason}")
        return engine, f"forced: {verdict.reason}"
    reasons = []
    for engine in PREFERENCE:
        verdict = engine.available(tls)
        if verdict:
            passed_over = f" (passed over: {'; '.join(reasons)})" if reasons else ""
            ahead = f"; {ORDER_REASON}" if engine is SendfileEngine else ""
            return engine, verdict.reason + ahead + passed_over
        reasons.append(f"{engine.name}: {verdict.reason}")
    raise EngineUnavailable("no send engine can run: " + "; ".join(reasons))


__all__ = ["Availability", "SendEngine", "ENGINES", "EngineUnavailable", "choose_engine", "path_label"]
