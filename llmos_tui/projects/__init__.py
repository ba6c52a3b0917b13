"""Projects: ``projects/<name>/`` with components (project agents), memory, output and state.

``manager.py`` creates, lists and describes projects and keeps their run statistics;
``insights.py`` learns across projects (patterns that recur in several projects, agents worth
reusing, one project's summary) and writes them as cron insight artifacts.
"""
