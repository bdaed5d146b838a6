"""The data: tables, the queries on them by topic, migrations, and the engine and sessions."""

# Keeps ProjectWord in step with every ORM write of a project, wherever it is made: loaded with
# the package, so that no import of store.models can miss it (and models need not import it).
import store.project_words  # noqa: F401
