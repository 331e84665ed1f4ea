"""Recipe helpers shared by the apps: model loading, hyperparameter tables, reports.

Apps hold recipes, never method logic: methods live in cl-methods, data in cl-data, metrics in
cl-eval. These helpers only wire them together.
"""
