"""The dashboard: risk lists with reasons for counselors, models and monitoring for engineers.

Pages (``views/``) are thin Streamlit scripts over the plain functions of this part
(``risklist``, ``whatif``, ``modelview``, ``monitorview``, ``access``), which the CLI and
the tests call too. Nothing here imports Streamlit except ``app``, ``state`` and the views.
"""
