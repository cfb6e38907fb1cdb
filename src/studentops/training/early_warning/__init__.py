"""Early warning by cut-off week: the study that trains and scores one model per week.

``study`` holds the evaluation (:func:`~studentops.training.early_warning.study.evaluate_by_week`)
and ``commands`` the ``studentops events evaluate`` command. The frames come from
:mod:`studentops.events.frames`; events never imports this package.
"""
