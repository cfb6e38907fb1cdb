"""Learning-platform event logs: adapters, cleaning and leak-free weekly features.

Read a source (:mod:`.oulad`, :mod:`.mapping`) into an :class:`~.schema.EventLog`, clean it
(:mod:`.cleaning`), build weekly, cohort and base-rate features (:mod:`.weekly`, :mod:`.cohort`,
:mod:`.frames`). This part sits below training: it never imports ``studentops.training``.
"""
