"""The one home of what kubeward runs on hosts, and the one format in which host scripts answer.

Scripts print *sections*: a marker line ``@@kw SCOPE KEY`` and then the section's text, up to the
next marker of the same scope. Scopes keep nested output apart: the facts prefetch wraps each
phase's facts in ``phase`` sections, whose own operations print ``fact`` sections; an apply script
prints a ``done`` marker after each change. :mod:`kubeward.hostscripts.sections` renders and parses
them; nothing else in kubeward invents an output format.
"""
