"""Fault knobs of the fake EC2 API, set through the control endpoint.

A fault applies to the next `count` authenticated EC2 requests whose action is
in `actions` (all when absent); count -1 keeps it until /faults/clear.  "slow"
faults add their delay and let the request go on (other faults may still
apply); any other kind replaces the answer:
  throttle   503 RequestLimitExceeded (optional Retry-After header)
  error500   500 InternalError
  malformed  200 with an XML document cut in the middle
  html       an HTML error page (status default 502), as a broken proxy sends
  drop       the connection is closed without an answer
  race       the request is answered normally, and right after it was
             computed the EC2 call in "mutate" ({"action", "params"}) is
             carried out: another writer changing the world between our
             read and our write
  hang       the request is never answered (the connection stays open until
             the client gives up): a cloud API that accepted the TCP
             connection and hangs
"skip": N lets N matching requests pass before the fault applies.
With "apply": true the operation is carried out first and only its answer is
replaced (a mutation whose response was lost).
"""

import threading

KINDS = ("throttle", "error500", "malformed", "html", "slow", "drop", "race", "hang")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1

    def add(self, spec):
        count = int(spec.get("count", 1))
        if count == 0 or count < -1:
            raise ValueError("count must be -1 or at least 1")
        actions = spec.get("actions")
        if actions is not None and not isinstance(actions, list):
            raise ValueError("actions must be a list")
        f = {"id": self.next_id, "kind": spec["kind"], "remaining": count,
             "actions": actions, "delay_ms": int(spec.get("delay_ms", 0)),
             "status": int(spec.get("status", 502)),
             "retry_after": spec.get("retry_after"),
             "apply": bool(spec.get("apply", False)),
             "skip": int(spec.get("skip", 0)), "mutate": spec.get("mutate")}
        if f["kind"] == "race" and not isinstance(f["mutate"], dict):
            raise ValueError("race needs mutate: {action, params}")
        if f["skip"] < 0:
            raise ValueError("skip must be >= 0")
        if f["kind"] == "slow" and f["delay_ms"] <= 0:
            raise ValueError("slow needs delay_ms > 0")
        if not 100 <= f["status"] <= 599:
            raise ValueError("status must be an HTTP status")
        with self.lock:
            self.next_id += 1
            self.items.append(f)
        return dict(f)

    def clear(self):
        with self.lock:
            self.items = []

    def pending(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def _consume(self, f):
        if f["remaining"] > 0:
            f["remaining"] -= 1
            if f["remaining"] == 0:
                self.items.remove(f)

    def take(self, action):
        """-> (delay_ms, fault or None) for one request of `action`."""
        delay, hit = 0, None
        with self.lock:
            for f in list(self.items):
                if f["actions"] is not None and action not in f["actions"]:
                    continue
                if f["skip"] > 0:
                    f["skip"] -= 1
                    continue
                if f["kind"] == "slow":
                    delay += f["delay_ms"]
                    self._consume(f)
                elif hit is None:
                    hit = dict(f)
                    self._consume(f)
        return delay, hit
