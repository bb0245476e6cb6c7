"""minigrad_bench: minigrad against PyTorch, in accuracy and in speed.

``accuracy/`` trains the reference net, its torch twin and the torch VGG baseline side by
side (``compare``, ``torch``); ``speed/`` measures throughput against torch (``speed``).
Both use ``models`` (each network in minigrad and in torch), ``reference`` (the reference
recipe, defined once), ``images`` (image statistics and transform pipelines) and ``report``
(the environment, Markdown tables, spreads). ``__main__`` is the command line.
"""
