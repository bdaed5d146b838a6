"""`qi-nudge stats --site`: one site's figures, the site found as /qi-projects finds it."""

import os
import subprocess
import sys

import pytest

SQLITE = pytest.mark.parametrize("fresh_database_url", ["sqlite"], indirect=True)


def qi(url, *args, stdin=""):
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    env.pop("SLACK_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@SQLITE
def test_a_sites_figures_count_the_projects_its_list_shows(fresh_database_url):
    assert qi(fresh_database_url, "demo").returncode == 0

    stats = qi(fresh_database_url, "stats", "--site", "riverside")
    listed = qi(fresh_database_url, "console", "--as", "Asha Patel", stdin="/qi-projects river\n")
    unknown = qi(fresh_database_url, "stats", "--site", "Moon Base")

    headline = "1 of 3 active projects has a service user or carer on the team"
    assert stats.returncode == 0, stats.stderr
    assert f"{headline} at Riverside Hospital (33% today), up from" in stats.stdout
    assert "== Active QI projects at Riverside Hospital ==" in listed.stdout
    assert f"{headline}.\n" in listed.stdout
    assert listed.stdout.count("(Riverside Hospital): led by") == 3
    assert unknown.returncode == 1
    assert 'I don\'t know a site called "Moon Base".' in unknown.stdout + unknown.stderr
    assert "Traceback" not in stats.stderr + listed.stderr + unknown.stderr
