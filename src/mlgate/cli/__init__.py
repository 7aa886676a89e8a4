"""The ``mlgate`` command. One module per sub-command, each with ``register(subparsers)``.

``output/`` renders every command's results. A front door: it may import any package of mlgate;
nothing but the console, impact, subjects (the verifier's argument reader) and policyset
(mutation testing) imports from it.
"""
