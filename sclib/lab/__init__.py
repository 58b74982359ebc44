"""The classroom lab: the toy, the exercises' helpers and the explorer (notebooks 00, 05, 06).

Nothing is re-exported here: import from the module that defines a name.
"""
