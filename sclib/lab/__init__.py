"""The classroom lab (notebooks 00, 05, 06), read in this order.

- ``toy``: the toy run (``ToyConfig``, ``train_toy``): a tiny MLP and its masks, seconds.
- ``subjects``: the subnetworks one can choose (cached runs, then the toy) and loading one.
- ``explorer``: ``Subnetworks``, what the explorer computes (accuracies under each view).
- ``drawing``: the explorer's figures and HTML panels, from what ``explorer`` computed.
- ``widget``: ``Explorer``, the ipywidgets explorer of ``05_explorer``.
- ``exercises``: the helpers of ``06_exercises`` (``check_prediction``, ``lambda_sweep``).
- ``checks``: the code exercises of ``06_exercises``, checked against ``sclib.masks``.

Nothing is re-exported here: import from the module that defines a name.
"""
