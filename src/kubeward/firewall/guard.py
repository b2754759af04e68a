"""The guarded change of kubeward's nftables table (pure; see :mod:`kubeward.ops.guard`)."""

from __future__ import annotations

from kubeward.firewall.paths import NEW, PREV
from kubeward.ops.guard import Guard

#: the guarded change of kubeward's table (see kubeward.ops.guard): the live table is saved as a file
#: that replaces it (or removes it, when there was none)
GUARD = Guard(
    name="firewall",
    what="firewall",
    save=("if nft list table inet kubeward >/dev/null 2>&1; then\n"
          "  { echo 'table inet kubeward {}'; echo 'delete table inet kubeward'; nft list table inet kubeward; }"
          " > \"$S/prev.nft\"\n"
          "else printf 'table inet kubeward {}\\ndelete table inet kubeward\\n' > \"$S/prev.nft\"; fi"),
    restore=f"nft -f \"$S/prev.nft\" && rm -f {NEW}",
    legacy=(PREV,),
)
