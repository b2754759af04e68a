"""Shell quoting and nesting helpers for the scripts kubeward sends to hosts (pure).

Two rules hold for every script kubeward builds:

* a value (from cluster.yml, a host's facts, a file's content) enters a shell command line only as
  one ``shlex.quote``-d word, or as data on stdin, never pasted in bare;
* a script is never an argument of a process on a host (``/proc/PID/cmdline`` is readable by every
  local user, and scripts carry keys and tokens). :mod:`kubeward.remote.ssh` sends each script on
  the SSH channel's stdin; a script that must run another script as another user (a phase's facts
  under ``sudo``) hands it over in a here-document with :func:`render_nested`.
"""

from __future__ import annotations

import hashlib
import shlex

#: read the whole script from stdin, then run it in this shell: a process reads the script, none
#: carries it in its argv, and whatever the script runs finds stdin already at its end
EVAL_STDIN = 'eval "$(cat)"'


def q(s: str) -> str:
    return shlex.quote(s)


def render_nested(script: str, *, sudo: bool) -> str:
    """Shell lines running ``script`` with ``sh`` (as root through ``sudo -n`` when ``sudo``), the
    script passed in a quoted here-document (no expansion inside), never on a command line."""
    delim = "KUBEWARD_SCRIPT_" + hashlib.sha256(script.encode()).hexdigest()[:16].upper()
    if delim in script.splitlines():
        raise ValueError("a script contains its own here-document delimiter")
    runner = "sudo -n sh" if sudo else "sh"
    return f"{runner} -c {q(EVAL_STDIN)} <<'{delim}'\n{script}\n{delim}\n"


def render_comment(text: str) -> str:
    """A ``#`` comment line; a newline in ``text`` (a path from cluster.yml) would end it early."""
    return "# " + " ".join(text.splitlines())
