"""The output layer: what leaves lockaudit for a terminal, a file or another tool.

``render`` (findings, tables, errors) still lives in ``lockaudit/render.py``; new formats and
the progress display go here.
"""
