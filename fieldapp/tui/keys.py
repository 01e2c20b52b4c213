"""Key bindings are declared with a word key as description and shown in the UI language."""

from __future__ import annotations

from dataclasses import replace

from textual.dom import DOMNode

from fieldapp.i18n import WORDS, t


def translate_bindings(node: DOMNode) -> None:
    """Footer and help read `Binding.description`: give this node's copy the UI language's words.
    (Textual copies the class bindings per instance, so this changes no class and no other node.)"""
    table = node._bindings.key_to_bindings
    for key, bindings in table.items():
        table[key] = [
            replace(b, description=t(b.description)) if b.description in WORDS else b
            for b in bindings
        ]
