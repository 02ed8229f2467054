"""Task kinds: each kind is one module with a config form and a run(context) function.

Kinds register themselves in `registry`; a kind owned by a higher app registers from that
app's AppConfig.ready(), so this package never imports it.
"""
