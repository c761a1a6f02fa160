"""Paper reproductions built on the product: each study has its own tasks, figures, page and command.

Nothing in the product imports a study; the studies add their commands through the
``neurodyn.commands`` entry points.
"""
