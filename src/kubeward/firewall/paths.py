"""Where the firewall lives on a host (the firewall package owns these paths; pure)."""

from __future__ import annotations

import hashlib

DIR = "/etc/kubeward"
#: the compiled ruleset the persistence unit loads at boot
RULESET = f"{DIR}/firewall.nft"
#: where a new ruleset is staged and checked before it is applied
NEW = f"{DIR}/firewall.nft.new"
#: an older kubeward's saved table (now in the guard's state)
PREV = f"{DIR}/firewall.prev.nft"
#: sha256 of `nft list table inet kubeward` as it was right after kubeward applied it (drift check)
LISTED = f"{DIR}/firewall.listed.sha256"
#: the unit that loads RULESET at boot
UNIT = "kubeward-firewall.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
