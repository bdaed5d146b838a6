"""The evidence: weekly figures, /qi-stats, run-chart rules, charts and CSV exports."""
